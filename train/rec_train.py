"""Train the plate recogniser and export it to models/recogniser.nnw.

    /usr/bin/python3 train/rec_train.py --minutes 50

A convolutional network reads a 32x128 grey crop into 32 columns of
symbol scores, trained with CTC. It has no recurrent layer: two 1x3
convolutions along the sequence give each column the context it needs,
and the C runtime then needs only convolutions. Samples are two thirds
synthetic (train/synth.py) and one third real labelled crops; the
held-out crops, the synthetic GB test set and photos-dev are measured at
every checkpoint and never trained on. Resumes from train/out/rec.pt.
"""
import argparse, os, random, sys
import numpy as np
from PIL import Image
import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import loop
import nnfile
import rec_data as D

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
OUT = os.path.join(ROOT, "train", "out")


def block(cin, cout, k=(3, 3), p=(1, 1)):
    return nn.Sequential(nn.Conv2d(cin, cout, k, padding=p, bias=False), nn.BatchNorm2d(cout), nn.ReLU())


class Recogniser(nn.Module):
    def __init__(self, n_classes=len(D.ALPHABET) + 1):
        super().__init__()
        self.body = nn.Sequential(
            block(1, 24), nn.MaxPool2d(2),              # 16x64
            block(24, 48), nn.MaxPool2d(2),             # 8x32
            block(48, 64), nn.MaxPool2d((2, 1)),        # 4x32
            block(64, 128),
            block(128, 160, (4, 1), (0, 0)),            # 1x32
            block(160, 160, (1, 3), (0, 1)),
            block(160, 160, (1, 3), (0, 1)))
        self.head = nn.Conv2d(160, n_classes, 1)

    def forward(self, x):                               # (N,1,32,128) -> (N,C,32)
        return self.head(self.body(x)).squeeze(2)

    def export(self, path, meta):
        layers = []
        for m in self.body:
            if isinstance(m, nn.Sequential):
                layers.append(nnfile.conv_layer(m[0], m[1], "relu"))
            else:
                k = m.kernel_size if isinstance(m.kernel_size, tuple) else (m.kernel_size,) * 2
                s = m.stride if isinstance(m.stride, tuple) else (m.stride,) * 2
                layers.append({"op": "maxpool", "inputs": [-1], "params": [k[0], k[1], s[0], s[1], 0, 0]})
        layers.append(nnfile.conv_layer(self.head, None, "none"))
        nnfile.write(path, "recogniser", (1, D.IN_H, D.IN_W), meta, nnfile.resolve_inputs(layers))


# European crops are fewer (1034, hand-checked) and would be learnt by
# heart at a third of the real draws.
POOL_WEIGHT = {"br": 0.42, "us": 0.4, "eu": 0.18}
POOLS = sorted(POOL_WEIGHT)


def scaled(q, sx, sy):
    """Quad q (TL, TR, BR, BL) grown sx times across and sy times down
    about its centre, along its own sides, as engine.c's confirm() grows
    it (image_quad_part())."""
    def at(u, v):
        top = [a + u * (b - a) for a, b in zip(q[0], q[1])]
        bot = [a + u * (b - a) for a, b in zip(q[3], q[2])]
        return tuple(t + v * (b - t) for t, b in zip(top, bot))
    u0, u1, v0, v1 = (1 - sx) / 2, (1 + sx) / 2, (1 - sy) / 2, (1 + sy) / 2
    return [at(u0, v0), at(u1, v0), at(u1, v1), at(u0, v1)]


def recut(rng, im, q, scale=0.0):
    """Plate quad q of im (a rec_cuts.py crop) cut at its own size, its
    corners moved as much as the engine's quads move between two looks
    (a few pixels on a 100-pixel plate) seven times in ten; with scale,
    first grown or shrunk by up to that share across and down, as the
    engine's confirming reads cut it."""
    if scale:
        q = scaled(q, 1 + rng.uniform(-scale, scale), 1 + rng.uniform(-scale, scale))
    w, h = D.quad_size(q)
    if rng.random() < 0.7:
        q = [(x + rng.gauss(0, 0.015 * w), y + rng.gauss(0, 0.04 * h)) for x, y in q]
    return D.quad_crop(im, q, max(8, round(w)), max(4, round(h)))


def read_cuts(path, wrong_weight=1):
    """A rec_cuts.py list: (crop path, text, plate quad TL, TR, BR, BL),
    each cut the engine read wrong listed wrong_weight times, so that the
    few plates the network still gets wrong are drawn more often than the
    many it already reads."""
    rows = [line.strip().split(",") for line in open(path)]
    return [(r[0], r[1], [(float(r[i]), float(r[i + 1])) for i in range(3, 11, 2)])
            for r in rows for _ in range(wrong_weight if r[2] == "wrong" else 1)]


class Stream(torch.utils.data.IterableDataset):
    """Endless batches; synthetic two thirds, real one third; with cuts (a
    rec_cuts.py list), that share of samples drawn from them first."""
    def __init__(self, seed, batch, real_frac=0.35, cuts=None, cuts_frac=0.0, recut_scale=0.0,
                 pool_weight=None):
        self.seed, self.batch, self.real_frac = seed, batch, real_frac
        self.cuts, self.cuts_frac, self.recut_scale = cuts, cuts_frac, recut_scale
        self.pool_weight = [(pool_weight or POOL_WEIGHT)[k] for k in POOLS]

    def __iter__(self):
        rng = random.Random(self.seed + (torch.utils.data.get_worker_info() or type("w", (), {"id": 0})).id)
        reals = D.load_real("train")
        by_country = {}
        for s in reals:
            by_country.setdefault(s[2], []).append(s)
        # A cut listed more than once (read_cuts()'s wrong_weight) is decoded once.
        ims = {p: Image.open(p).convert("RGB") for p in {c[0] for c in self.cuts or []}}
        cuts = [(ims[p], t, q) for p, t, q in self.cuts or []]
        while True:
            xs, ys = [], []
            for _ in range(self.batch):
                if cuts and rng.random() < self.cuts_frac:
                    im, t, q = rng.choice(cuts)
                    x = D.prepare(D.camera(rng, recut(rng, im, q, self.recut_scale), 0.3))
                elif rng.random() < self.real_frac:
                    pool = rng.choices(POOLS, self.pool_weight)[0]
                    x, t = D.real(rng, rng.choice(by_country[pool]))
                else:
                    x, t = D.synthetic(rng)
                xs.append(x)
                ys.append(t)
            yield torch.from_numpy(np.stack(xs)[:, None]), ys


def greedy(logits):
    """(N,C,T) -> texts by best path."""
    best = logits.argmax(1).numpy()
    out = []
    for row in best:
        s, prev = [], 0
        for k in row:
            if k != prev and k != 0:
                s.append(D.ALPHABET[k - 1])
            prev = k
        out.append("".join(s))
    return out


def evaluate(model, sets):
    model.eval()
    res = {}
    with torch.no_grad():
        for name, (x, texts) in sets.items():
            pred = []
            for i in range(0, len(x), 256):
                pred += greedy(model(x[i:i + 256]))
            res[name] = sum(p == t for p, t in zip(pred, texts)) / max(1, len(texts))
    model.train()
    return res


def export(model, path, step):
    model.eval()
    model.export(path, {"name": "anpr-recogniser", "alphabet": D.ALPHABET,
                        "two_line_aspect": D.TWO_LINE_ASPECT, "steps": step})


def tensors(samples):
    return (torch.from_numpy(np.stack([D.prepare(s[0]) for s in samples])[:, None]), [s[1] for s in samples])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--minutes", type=float, default=50)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--eval-every", type=float, default=5, help="minutes")
    ap.add_argument("--out", default=os.path.join(ROOT, "models", "recogniser.nnw"))
    ap.add_argument("--seed", type=int, default=1000, help="seed of the synthetic stream (plus the step)")
    ap.add_argument("--init", help="start from these weights (a checkpoint, or an .nnw file such as "
                    "models/recogniser.nnw) with a fresh optimiser and schedule (a fine-tune) instead "
                    "of resuming train/out/rec.pt")
    ap.add_argument("--cuts", help="also train on these crops cut where the engine cuts them "
                    "(train/rec_cuts.py's cuts.csv)")
    ap.add_argument("--cuts-frac", type=float, default=0.25, help="share of samples from --cuts")
    ap.add_argument("--wrong-weight", type=int, default=1,
                    help="draw each cut the engine read wrong this many times as often")
    ap.add_argument("--recut-scale", type=float, default=0.0,
                    help="grow or shrink each cut's quad by up to this share across and down")
    ap.add_argument("--eu-share", type=float, default=POOL_WEIGHT["eu"],
                    help="share of the real draws from the European crops (the rest keep "
                    "Brazil's and the US's proportion)")
    a = ap.parse_args()
    rest = 1 - POOL_WEIGHT["eu"]
    pools = {k: (a.eu_share if k == "eu" else v * (1 - a.eu_share) / rest)
             for k, v in POOL_WEIGHT.items()}
    cuts = read_cuts(a.cuts, a.wrong_weight) if a.cuts else None
    torch.set_num_threads(a.threads)
    torch.manual_seed(1)
    os.makedirs(OUT, exist_ok=True)
    model = Recogniser()
    opt = torch.optim.AdamW(model.parameters(), lr=a.lr, weight_decay=1e-4)
    ckpt = os.path.join(OUT, "rec.pt")
    spent, step = 0.0, 0
    if a.init:
        loop.init_from(model, a.init, lambda: next(iter(Stream(a.seed - 1, 256)))[0])
    else:
        spent, step = loop.resume(model, opt, ckpt)
    print("parameters", sum(p.numel() for p in model.parameters()), flush=True)
    test = D.load_real("test")
    sets = {"br-test": tensors([s for s in test if s[2] == "br"]),
            "us-test": tensors([s for s in test if s[2] == "us"]),
            "eu-test": tensors([s for s in test if s[2] == "eu"]),
            "gb-synth": tensors(D.synthetic_test_set(1000)),
            "photos-dev": tensors(D.load_photos_dev())}
    loader = torch.utils.data.DataLoader(Stream(a.seed + step, a.batch, cuts=cuts,
                                                cuts_frac=a.cuts_frac, recut_scale=a.recut_scale,
                                                pool_weight=pools), batch_size=None, num_workers=1,
                                         prefetch_factor=4)
    ctc = nn.CTCLoss(blank=0, zero_infinity=True)

    def loss_of(b):
        x, texts = b
        logp = F.log_softmax(model(x), 1).permute(2, 0, 1)   # (T,N,C)
        tgt = torch.tensor([k for t in texts for k in D.encode(t)])
        return ctc(logp, tgt, torch.full((len(texts),), logp.shape[0], dtype=torch.long),
                   torch.tensor([len(t) for t in texts]))

    def on_checkpoint(step):
        r = evaluate(model, sets)
        print("eval", step, " ".join(f"{k} {v:.3f}" for k, v in r.items()), flush=True)
        export(model, a.out, step)

    loop.run(model, opt, loader, loss_of, ckpt=ckpt, lr=a.lr,
             budget=a.minutes * 60, spent=spent, step=step, batch=a.batch,
             eval_every=a.eval_every * 60, log_every=50, on_checkpoint=on_checkpoint)

if __name__ == "__main__":
    main()

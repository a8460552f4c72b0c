"""Train the corner refiner and export it to models/refiner.nnw.

    /usr/bin/python3 train/ref_train.py --minutes 60

A small convolutional network looks at the IN_W x IN_H window around a
rough plate quad (train/ref_data.py) and regresses the plate's four
corners in it: six 3x3 convolutions, four of them with stride 2, down to
3x8, and one 3x8 convolution to the 8 coordinates, so the C runtime needs
only its convolution op. Samples are composed on the fly from
det_data's scenes; the fixed validation set is scored at every checkpoint.
Resumes from train/out/ref.pt.
"""
import argparse
import os
import random
import sys

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import det_eval
import loop
import nnfile
import ref_data as D

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
OUT = os.path.join(ROOT, "train", "out")


def block(cin, cout, s=1):
    return nn.Sequential(nn.Conv2d(cin, cout, 3, s, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU())


class Refiner(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(
            block(1, 16, 2),        # 24x64
            block(16, 32, 2),       # 12x32
            block(32, 32),
            block(32, 64, 2),       # 6x16
            block(64, 64),
            block(64, 96, 2))       # 3x8
        self.head = nn.Conv2d(96, 8, (D.IN_H // 16, D.IN_W // 16))
        with torch.no_grad():       # start at the rough quad's own corners
            self.head.weight.mul_(0.1)
            ax, ay = (D.EXPAND_X - 1) / 2 / D.EXPAND_X, (D.EXPAND_Y - 1) / 2 / D.EXPAND_Y
            self.head.bias.copy_(torch.tensor([ax, ay, 1 - ax, ay, 1 - ax, 1 - ay, ax, 1 - ay]))

    def forward(self, x):                       # (N,1,IN_H,IN_W) -> (N,8)
        return self.head(self.body(x)).flatten(1)

    def export(self, path, meta):
        layers = [nnfile.conv_layer(m[0], m[1], "relu") for m in self.body]
        layers.append(nnfile.conv_layer(self.head, None, "none"))
        nnfile.write(path, "refiner", (1, D.IN_H, D.IN_W), meta, nnfile.resolve_inputs(layers))


class Stream(torch.utils.data.IterableDataset):
    """Endless batches of composed samples."""
    def __init__(self, seed, batch):
        self.seed, self.batch = seed, batch

    def __iter__(self):
        wid = (torch.utils.data.get_worker_info() or type("w", (), {"id": 0})).id
        comp, rng = D.composer(self.seed + 7919 * wid), random.Random(self.seed + wid)
        pending = []
        while True:
            while len(pending) < self.batch:
                pending += D.samples(comp, rng)
            rng.shuffle(pending)
            now, pending = pending[:self.batch], pending[self.batch:]
            yield (torch.from_numpy(np.stack([s[0] for s in now])[:, None]),
                   torch.from_numpy(np.stack([s[1] for s in now])))


def bbox_iou(a, b):
    """IoU of the upright bounding boxes of two quads, as the benches count."""
    return det_eval.iou((*a.min(0), *a.max(0)), (*b.min(0), *b.max(0)))


def evaluate(model, val):
    """Mean corner error in plate widths (x) and heights (y), and mean
    bounding-box IoU with the truth, for the rough quads and the refined."""
    model.eval()
    x = torch.from_numpy(np.stack([s[0] for s in val])[:, None])
    with torch.no_grad():
        pred = model(x).numpy().reshape(-1, 4, 2) * np.array([D.IN_W, D.IN_H])
    model.train()
    res = {"rough": [], "refined": []}
    for p, (_, _, d, q) in zip(pred, val):
        w, h = D.side(q)
        got = D.apply_h(D.input_map(D.window(d)), p)
        for k, quad in (("rough", d), ("refined", got)):
            err = np.abs(quad - q).mean(0) / np.array([w, h])
            res[k].append((err[0], err[1], bbox_iou(quad, q)))
    return {k: np.mean(v, 0) for k, v in res.items()}


def report(when, model, val):
    r = evaluate(model, val)
    print("eval", when, " ".join(f"{k}: err x {v[0]:.3f} y {v[1]:.3f} iou {v[2]:.3f}" for k, v in r.items()),
          flush=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--minutes", type=float, default=60)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--eval-every", type=float, default=5, help="minutes")
    ap.add_argument("--init", help="start from this checkpoint's weights with a fresh optimiser and "
                    "schedule (a fine-tune) instead of resuming train/out/ref.pt")
    ap.add_argument("--out", default=os.path.join(ROOT, "models", "refiner.nnw"))
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    os.makedirs(OUT, exist_ok=True)
    model = Refiner()
    opt = torch.optim.AdamW(model.parameters(), lr=a.lr, weight_decay=1e-4)
    ckpt = os.path.join(OUT, "ref.pt")
    spent, step = 0.0, 0
    if a.init:
        loop.init_from(model, a.init, lambda: next(iter(Stream(a.seed - 1, 256)))[0])
    else:
        spent, step = loop.resume(model, opt, ckpt)
    print("parameters", sum(p.numel() for p in model.parameters()), flush=True)
    val = D.fixed_set()
    if a.init:
        report("start", model, val)
    loader = torch.utils.data.DataLoader(Stream(a.seed * 1000 + step, a.batch), batch_size=None,
                                         num_workers=a.workers, prefetch_factor=4)
    # Errors in window fractions; x and y weighted as the plate's own width
    # and height, so that a pixel across counts as one down.
    w = torch.tensor([D.EXPAND_X, D.EXPAND_Y] * 4)

    def on_checkpoint(step):
        report(step, model, val)
        model.export(a.out, {"name": "anpr-refiner", "expand_x": D.EXPAND_X, "expand_y": D.EXPAND_Y})

    loop.run(model, opt, loader, lambda b: F.smooth_l1_loss(model(b[0]) * w, b[1] * w, beta=0.02),
             ckpt=ckpt, lr=a.lr, budget=a.minutes * 60, spent=spent, step=step, batch=a.batch,
             eval_every=a.eval_every * 60, log_every=100, on_checkpoint=on_checkpoint)

if __name__ == "__main__":
    main()

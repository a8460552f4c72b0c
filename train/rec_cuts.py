"""Recogniser training crops cut where the engine cuts them.

    /usr/bin/python3 train/rec_cuts.py [--n 3000] [--seed 31000] [--anpr build/anpr] [--out DIR]

The hand-jittered crops of rec_data.py miss how the detector and the
corner refiner place a quad: a reading flips when its quad moves by two
pixels (models/RECOGNISER.md, "Known weaknesses"). Here training plates
(the real crops' training split, half the time, else synthetic plates of
rec_data.SYNTH_WEIGHTS) are pasted into 1280x720 scenes as
make_testset.py makes its GB and European scenes, each scene is read by
`anpr read --json`, and the plate is cut out again by the quad of the
reading that boxes it (IoU at least 0.5 with its pasted box). What is
kept is the quad's surroundings (half its width and its height again on
each side) and the quad within them, so that rec_train.py --cuts can cut
each plate anew with the corners moved a little: a few thousand fixed
cuts were learnt by heart (models/RECOGNISER.md, the thirteenth
fine-tune). Written to OUT (default train/out/cuts): crops/NNNNNN.png and
cuts.csv (`path,text,source,x0,y0,...,x3,y3`, the quad TL, TR, BR, BL in
the crop's pixels). Scenes are made and read 2,000 at a time and deleted
once cut. Scenes the engine finds no plate in are skipped: there is no
cut to learn from.

The seed differs from make_testset.py's SCENE_SEED, whose scenes are a
measure; photos-dev and the held-out crops are never used.
"""
import argparse, json, os, subprocess, sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from PIL import Image

import det_eval
import make_testset as T
import rec_data as D
import synth

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))


CHUNK = 2000


def surroundings(im, q):
    """The part of im around quad q and q in its pixels: (image, quad)."""
    w, h = D.quad_size(q)
    x0 = max(0, int(min(x for x, _ in q) - w / 2))
    y0 = max(0, int(min(y for _, y in q) - h))
    x1 = min(im.size[0], int(max(x for x, _ in q) + w / 2) + 1)
    y1 = min(im.size[1], int(max(y for _, y in q) + h) + 1)
    return im.crop((x0, y0, x1, y1)), [(x - x0, y - y0) for x, y in q]


def read_all(anpr, paths):
    """`anpr read --json` of paths: {path: its plates}."""
    out = subprocess.run([anpr, "read", "--json", "--threads", "2", "--candidates", "1"] + paths,
                         capture_output=True, text=True)
    return {j["file"]: j.get("plates", []) for j in map(json.loads, out.stdout.splitlines())}


def boxing(plates, x, y, w, h):
    """The reading whose quad's box overlaps box x,y,w,h most, at IoU 0.5
    or more; None if none does."""
    best, score = None, 0.5
    for p in plates:
        xs, ys = [c[0] for c in p["box"]], [c[1] for c in p["box"]]
        o = det_eval.iou((x, y, x + w, y + h), (min(xs), min(ys), max(xs), max(ys)))
        if o >= score:
            best, score = p, o
    return best


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=3000, help="scenes to make")
    ap.add_argument("--seed", type=int, default=31000)
    ap.add_argument("--anpr", default=os.path.join(ROOT, "build", "anpr"))
    ap.add_argument("--out", default=os.path.join(ROOT, "train", "out", "cuts"))
    a = ap.parse_args()
    scenes, crops = os.path.join(a.out, "scenes"), os.path.join(a.out, "crops")
    os.makedirs(crops, exist_ok=True)
    reals = D.load_real("train")

    def plate(rng, i):
        if rng.random() < 0.5:
            im, text, _ = rng.choice(reals)
            return im, text
        im, text, _ = synth.render_plate(rng, weights=D.SYNTH_WEIGHTS)
        if rng.random() < 0.3:
            im = synth.dirt(rng, im)
        return im, text

    n = 0
    with open(os.path.join(a.out, "cuts.csv"), "w") as f:
        for start in range(0, a.n, CHUNK):
            lst = os.path.join(a.out, "scenes.csv")
            T.write_scenes(scenes, lst, "cuts", a.seed + start, min(CHUNK, a.n - start), plate)
            rows = [line.strip().split(",") for line in open(lst)]
            readings = read_all(a.anpr, [r[0] for r in rows])
            for path, text, _, x, y, w, h in rows:
                best = boxing(readings.get(path, []), *(float(v) for v in (x, y, w, h)))
                if best is not None:
                    im, q = surroundings(Image.open(path).convert("RGB"), [tuple(c) for c in best["box"]])
                    dst = os.path.join(crops, f"{n:06d}.png")
                    im.save(dst)
                    corners = ",".join(f"{v:.1f}" for c in q for v in c)
                    f.write(f"{dst},{text},{'right' if best['text'] == text else 'wrong'},{corners}\n")
                    n += 1
                os.remove(path)
    print(f"{n} cuts of {a.n} scenes in {a.out}")


if __name__ == "__main__":
    main()

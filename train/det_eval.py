"""Measures the plate detector on ../shared/data/photos-dev.

Each photo is prepared the way src/lib/detect.c prepares a frame (grey,
area-resized to fit 512x512 keeping aspect, zero-padded to a multiple of
32), run through the PyTorch model, and decoded the way detect.c decodes:
3x3 local maxima of the heatmap above a threshold, corners from the
offsets averaged over the peak's neighbours, greedy NMS on the quads'
bounding boxes, then a second look around each plate (refine()). A
labelled plate counts as found when a detection's axis-aligned box has
IoU >= 0.5 with it; every other detection is a false positive (photos-dev labels one plate per photo,
so plates on other cars count against us too: read the figure with that in
mind).

  python3 train/det_eval.py [checkpoint.pt] [--thr 0.2] [--show DIR]
"""
import csv
import math
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageDraw

import det_model

ROOT = os.path.dirname(os.path.abspath(__file__))
DEV = os.path.normpath(os.path.join(ROOT, "..", "..", "shared", "data", "photos-dev"))


def prepare(grey):
    """Grey PIL image -> (padded float array, (sx, sy, valid_w, valid_h)):
    the scale from input to photo pixels and the unpadded input size."""
    w, h = grey.size
    M = det_model.MAX_SIDE
    s = min(M / w, M / h)
    dw = min(M, max(1, int(math.floor(w * s + 0.5))))
    dh = min(M, max(1, int(math.floor(h * s + 0.5))))
    a = np.asarray(grey.resize((dw, dh), Image.BOX), np.float32) / 255.0
    A = det_model.ALIGN
    ph, pw = -(-dh // A) * A, -(-dw // A) * A
    out = np.zeros((ph, pw), np.float32)
    out[:dh, :dw] = a
    return out, (w / dw, h / dh, dw, dh)


def load_dev():
    """[(name, grey image, input array, (sx, sy), label box x0,y0,x1,y1)]
    for photos-dev."""
    items = []
    with open(os.path.join(DEV, "labels.csv")) as f:
        for r in csv.DictReader(f):
            im = Image.open(os.path.join(DEV, r["image"])).convert("L")
            x, y, w, h = (int(r[k]) for k in "xywh")
            x0, y0 = max(0, x), max(0, y)  # one label starts at x = -1
            a, sc = prepare(im)
            items.append((r["image"], im, a, sc, (x0, y0, x + w, y + h)))
    return items


def iou(a, b):
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    u = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / u if u > 0 else 0.0


def decode(hm, reg, thr, geom, max_det=16, nms_iou=0.3, refine=True):
    """Heatmap (H,W) and corners (8,H,W) as numpy -> [(score, quad 4x2,
    box)] in photo pixels, best first, after NMS on bounding boxes; geom is
    prepare()'s (sx, sy, valid_w, valid_h). With refine, each peak's corners
    are the heatmap-weighted mean of those its 3x3 neighbourhood predicts
    (every cell near a centre learnt them), which measured better on
    photos-dev than the peak cell's alone."""
    S, C = det_model.STRIDE, det_model.CORNER_SCALE
    t = torch.from_numpy(hm)[None, None]
    peak = (F.max_pool2d(t, 3, 1, 1) == t)[0, 0].numpy() & (hm >= thr)
    peak[-(-geom[3] // S):, :] = False  # cells wholly in the padding
    peak[:, -(-geom[2] // S):] = False
    ys, xs = np.nonzero(peak)
    cand = sorted(zip(hm[ys, xs], ys, xs), reverse=True)
    out = []
    for sc, y, x in cand:
        q = np.zeros((4, 2))
        cells = [(y, x)]
        if refine:
            cells = [(y + dy, x + dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1)
                     if 0 <= y + dy < hm.shape[0] and 0 <= x + dx < hm.shape[1]]
        wsum = 0.0
        for cy, cx in cells:
            wt = hm[cy, cx]
            wsum += wt
            for k in range(4):
                q[k, 0] += wt * ((cx + 0.5) * S + reg[2 * k, cy, cx] * C)
                q[k, 1] += wt * ((cy + 0.5) * S + reg[2 * k + 1, cy, cx] * C)
        q *= np.array(geom[:2]) / max(wsum, 1e-12)
        box = (q[:, 0].min(), q[:, 1].min(), q[:, 0].max(), q[:, 1].max())
        if all(iou(box, b) <= nms_iou for _, _, b in out):
            out.append((float(sc), q, box))
            if len(out) == max_det:
                break
    return out


REFINE_W, REFINE_H, REFINE_ZOOM, REFINE_THR, REFINE_CENTRE = 160, 96, 1.5, 0.2, 0.25
THRESHOLD, SURE = 0.3, 0.25   # detect.h DETECT_THRESHOLD, DETECT_SURE


def refine(model, grey, dets, nms_iou=0.3):
    """The second look of detect.c: each plate's window (REFINE_ZOOM times
    its width, or twice its height if more) resized to REFINE_W x REFINE_H,
    run again, and the best plate near the window's centre taken; a plate
    the first look scored under THRESHOLD is dropped unless the second
    scores it at least SURE, any other unless the second finds it again; then the
    quads are suppressed again, best first."""
    W, H = grey.size
    out = []
    for sc, q, box in dets:
        second = 0.0
        cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
        cw = REFINE_ZOOM * max(box[2] - box[0], 2 * (box[3] - box[1]))
        ch = cw * REFINE_H / REFINE_W
        wx, wy, k = cx - cw / 2, cy - ch / 2, REFINE_W / cw
        x0, x1 = (min(max(v, 0), W) for v in (math.floor(wx), math.ceil(wx + cw)))
        y0, y1 = (min(max(v, 0), H) for v in (math.floor(wy), math.ceil(wy + ch)))
        if x1 > x0 and y1 > y0:
            dx = min(max(round((x0 - wx) * k), 0), REFINE_W - 1)
            dy = min(max(round((y0 - wy) * k), 0), REFINE_H - 1)
            dw = min(max(round((x1 - x0) * k), 1), REFINE_W - dx)
            dh = min(max(round((y1 - y0) * k), 1), REFINE_H - dy)
            a = np.zeros((REFINE_H, REFINE_W), np.float32)
            part = grey.crop((x0, y0, x1, y1))
            part = part.resize((dw, dh), Image.BOX if x1 - x0 >= dw else Image.BILINEAR)
            a[dy:dy + dh, dx:dx + dw] = np.asarray(part, np.float32) / 255.0
            with torch.no_grad():
                h, r = model(torch.from_numpy(a)[None, None])
            sx, sy = (x1 - x0) / dw, (y1 - y0) / dh
            off = np.array([x0 - dx * sx, y0 - dy * sy])
            for s2, q2, b2 in decode(torch.sigmoid(h)[0, 0].numpy(), r[0].numpy(), REFINE_THR,
                                     (sx, sy, REFINE_W, REFINE_H), max_det=8, nms_iou=nms_iou):
                if math.hypot((b2[0] + b2[2]) / 2 + off[0] - cx, (b2[1] + b2[3]) / 2 + off[1] - cy) \
                        < REFINE_CENTRE * cw:
                    q = q2 + off
                    box = (q[:, 0].min(), q[:, 1].min(), q[:, 0].max(), q[:, 1].max())
                    second = s2
                    break
        if second < (SURE if sc < THRESHOLD else REFINE_THR):
            continue
        if all(iou(box, b) <= nms_iou for _, _, b in out):
            out.append((sc, q, box))
    return out


def evaluate(model, items, thr=0.2, show=None, second_look=True):
    """Returns (recall, false positives per image, misses list)."""
    model.eval()
    found, fp, misses = 0, 0, []
    with torch.no_grad():
        for name, grey, a, sc, lab in items:
            h, r = model(torch.from_numpy(a)[None, None])
            dets = decode(torch.sigmoid(h)[0, 0].numpy(), r[0].numpy(), thr, sc)
            if second_look:
                dets = refine(model, grey, dets)
            hit = [d for d in dets if iou(d[2], lab) >= 0.5]
            found += bool(hit)
            fp += len(dets) - min(1, len(hit))
            if not hit:
                best = max((iou(d[2], lab) for d in dets), default=0.0)
                misses.append((name, best, len(dets)))
            if show:
                im = Image.open(os.path.join(DEV, name)).convert("RGB")
                d = ImageDraw.Draw(im)
                d.rectangle(lab, outline=(0, 255, 0), width=3)
                for s, q, _ in dets:
                    d.polygon([tuple(p) for p in q], outline=(255, 0, 0), width=3)
                    d.text(tuple(q[0]), "%.2f" % s, fill=(255, 0, 0))
                im.save(os.path.join(show, name.rsplit(".", 1)[0] + ".jpg"))
    model.train()
    return found / len(items), fp / len(items), misses


def main():
    torch.set_num_threads(1)
    args = sys.argv[1:]
    thr, show, ckpt = 0.2, None, os.path.join(ROOT, "out", "det_last.pt")
    while args:
        a = args.pop(0)
        if a == "--thr":
            thr = float(args.pop(0))
        elif a == "--show":
            show = args.pop(0)
            os.makedirs(show, exist_ok=True)
        else:
            ckpt = a
    model = det_model.Detector()
    model.load_state_dict(torch.load(ckpt, map_location="cpu")["model"])
    items = load_dev()
    for t in sorted({thr, 0.2, 0.3, 0.5}):
        rec1, _, _ = evaluate(model, items, t, None, second_look=False)
        rec, fpi, misses = evaluate(model, items, t, show if t == thr else None)
        print("thr %.2f  recall %.1f%% (%d/%d; %.1f%% without the second look)  false positives per image %.2f"
              % (t, 100 * rec, round(rec * len(items)), len(items), 100 * rec1, fpi))
        if t == thr:
            for m in misses:
                print("  missed %s (best IoU %.2f, %d detections)" % m)


if __name__ == "__main__":
    main()

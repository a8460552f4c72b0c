"""Training samples for the corner refiner.

The detector's quads are rough: near-upright where a plate is tilted,
hugging the characters or taking in a holder or a bumper recess. The
refiner looks at a window around such a quad and says where the plate's
four corners really are. A sample is made as the library makes one
(src/lib/refine.c): a scene from det_data.Composer with its plates' true
corners, a detector-like error applied to one plate's quad, the window
around that rough quad (EXPAND_X times its width, EXPAND_Y times its
height, about its centre) warped to IN_W x IN_H and normalised, and as the
target the true corners in the window, as fractions of its width and
height.
"""
import math
import random

import numpy as np
from PIL import Image

import det_data
from geom import apply_h, homography

IN_H, IN_W = 48, 128
EXPAND_X, EXPAND_Y = 1.4, 2.0
MIN_WIDTH = 28        # plates narrower than this (scene pixels) are not refined
MAX_SUPER = 4         # as recog.c: a shrunk window is sampled finer, then box-averaged


def window(q):
    """The window quad around quad q (TL, TR, BR, BL): q's bilinear map
    extended past its edges, as refine.c does."""
    q = np.asarray(q, float)
    ax, ay = (EXPAND_X - 1) / 2, (EXPAND_Y - 1) / 2
    out = []
    for u, v in ((-ax, -ay), (1 + ax, -ay), (1 + ax, 1 + ay), (-ax, 1 + ay)):
        top = q[0] + u * (q[1] - q[0])
        bot = q[3] + u * (q[2] - q[3])
        out.append(top + v * (bot - top))
    return np.array(out)


def input_map(win):
    """Homography from input pixels (0..IN_W, 0..IN_H) to the image."""
    return homography([(0, 0), (IN_W, 0), (IN_W, IN_H), (0, IN_H)], win)


def side(q):
    """(width, height) of a quad: its mean opposite side lengths."""
    q = np.asarray(q, float)
    w = (np.linalg.norm(q[1] - q[0]) + np.linalg.norm(q[2] - q[3])) / 2
    h = (np.linalg.norm(q[3] - q[0]) + np.linalg.norm(q[2] - q[1])) / 2
    return w, h


def prepare(grey, win):
    """The network input for window quad win of a grey PIL image: float32
    (IN_H, IN_W), zero mean and unit deviation as rec_data.prepare()."""
    ww, wh = side(win)
    s = int(min(max(ww / IN_W, wh / IN_H, 1), MAX_SUPER))
    H = input_map(win) @ np.diag([1 / s, 1 / s, 1])
    im = grey.transform((IN_W * s, IN_H * s), Image.PERSPECTIVE, tuple((H / H[2, 2]).flatten()[:8]),
                        Image.BILINEAR)
    if s > 1:
        im = im.resize((IN_W, IN_H), Image.BOX)
    a = np.asarray(im, np.float32) / 255.0
    return (a - a.mean()) / (a.std() + 0.02)


def rough(rng, q):
    """A detector-like quad for the true quad q: often upright, turned a
    little, too wide or too narrow, too tall or too short, off centre."""
    q = np.asarray(q, float)
    w, h = side(q)
    c = q.mean(0)
    if rng.random() < 0.4:
        lo, hi = q.min(0), q.max(0)
        d = np.array([lo, (hi[0], lo[1]), hi, (lo[0], hi[1])])
        if rng.random() < 0.5:  # upright, but about as tall as the plate
            d = c + (d - c) * np.array([1, min(1, h / max(hi[1] - lo[1], 1))])
    else:
        d = q.copy()
    a = math.radians(rng.gauss(0, 3))
    sx = min(1.35, max(0.75, math.exp(rng.gauss(0, 0.12))))
    sy = min(1.6, max(0.6, math.exp(rng.gauss(0, 0.2))))
    u = (q[1] - q[0]) / max(np.linalg.norm(q[1] - q[0]), 1e-6)   # the plate's own axes
    v = np.array([-u[1], u[0]])
    rel = d - c
    rel = np.outer(rel @ u * sx, u) + np.outer(rel @ v * sy, v)
    rot = np.array([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]])
    d = c + rel @ rot.T
    d += u * rng.gauss(0, 0.06) * w + v * rng.gauss(0, 0.12) * h
    d += np.array([[rng.gauss(0, 0.03) * w, rng.gauss(0, 0.06) * h] for _ in range(4)])
    return d


def samples(comp, rng, per_plate=3):
    """One scene's samples: [(input array, target (8,), rough quad, true quad)]."""
    img, quads = comp.scene()
    grey = Image.fromarray(img)
    out = []
    for q in quads:
        if side(q)[0] < MIN_WIDTH:
            continue
        for _ in range(per_plate):
            d = rough(rng, q)
            win = window(d)
            t = apply_h(np.linalg.inv(input_map(win)), q) / np.array([IN_W, IN_H])
            out.append((prepare(grey, win), t.astype(np.float32).reshape(8), d, q))
    return out


def composer(seed):
    return det_data.Composer(seed=seed, aspect_jitter=1.5, us_weight=1.5, min_width=MIN_WIDTH)


def fixed_set(n=600, seed=20261205):
    """The validation samples: a seed training never draws from."""
    comp, rng, out = composer(seed), random.Random(seed), []
    while len(out) < n:
        out += samples(comp, rng, 1)
    return out[:n]

"""Training scenes for the plate detector, composed on the fly.

There are few real whole photos with plate boxes, so every training image
is made: a plate-free background (a crop of ../shared/data/negatives, or a
drawn clutter scene) with 0..4 plates pasted on it, each usually inside a
drawn vehicle-like patch (body panel, bumper, grille, lights) so that the
net learns "plate on a vehicle" rather than "bright rectangle". Plate and
patch are warped together by one homography (scale, rotation, perspective),
which also carries the plate's four corners into the scene: the labels.

Plate sources: real crops from plate-crops-br, -us and -eu (whole crop =
plate quad; files whose number ends in 0 are the recogniser's held-out test
set and are never read) and synthetic UK plates from synth.render_plate.
photos-dev is never touched here: it is the development measure.

Everything is grey, uint8, in "continuous" pixel coordinates (pixel p
covers [p, p+1)), matching the C decoder.
"""
import glob
import io
import math
import os
import random

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

import det_model
from geom import apply_h, homography

ROOT = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.normpath(os.path.join(ROOT, "..", "..", "shared", "data"))

try:
    import synth
except ImportError:  # the synthetic plate renderer is optional
    synth = None


def _usable(path):
    """True unless the file is in the recogniser's held-out tenth."""
    stem = os.path.splitext(os.path.basename(path))[0]
    return not (stem.isdigit() and int(stem) % 10 == 0)


def load_crops():
    """Real plate crops as RGB PIL images, keyed by source folder."""
    out = {}
    for name in ("plate-crops-br", "plate-crops-us", "plate-crops-eu"):
        files = sorted(f for f in glob.glob(os.path.join(DATA, name, "*.jpg")) + glob.glob(os.path.join(DATA, name, "*.png"))
                       if _usable(f))
        out[name] = [Image.open(f).convert("RGB") for f in files]
    return out


def load_backgrounds(max_side=512):
    """The negatives as grey PIL images no larger than max_side."""
    bgs = []
    for f in sorted(glob.glob(os.path.join(DATA, "negatives", "*"))):
        if not f.lower().endswith((".jpg", ".png")):
            continue
        im = Image.open(f).convert("L")
        if max(im.size) > max_side:
            im.thumbnail((max_side, max_side), Image.BOX)
        bgs.append(im)
    return bgs


WORDS = ("EXIT", "ONLY", "NOTICE", "Heating", "and", "Cooling", "Services", "Plumbing", "Ltd", "Inc",
         "PARKING", "Authorised", "vehicles", "STOP", "TAXI", "Hire", "www", "com", "co.uk", "Call",
         "Sport", "Turbo", "Diesel", "Hybrid", "Motors", "Garage", "Deliveries", "Keep", "Clear",
         "Titan", "Suburban", "Limited", "Police", "Ambulance", "Tel", "Open", "24h", "Sales")


def _words(r):
    """Words and phone numbers as on signs and vans: text, but not a plate."""
    parts = []
    for _ in range(r.randint(1, 4)):
        if r.random() < 0.25:
            parts.append("%03d-%03d-%04d" % (r.randrange(1000), r.randrange(1000), r.randrange(10000)))
        else:
            parts.append(r.choice(WORDS))
    return " ".join(parts)


def _text(r, d, x, y, h, text):
    """Draws text h pixels high at (x, y) in a random face and shade."""
    if h < 4 or synth is None:
        return
    font = ImageFont.truetype(r.choice(synth.FONT_FILES), h)
    d.text((x, y), text, font=font, fill=r.choice([r.randrange(0, 60), r.randrange(190, 256), r.randrange(256)]))


def _chrome(r, d, x0, y0, x1, y1):
    """A bright chrome band: a highlight and darker reflections by row."""
    n = max(1, y1 - y0)
    base, hi = r.randrange(120, 200), r.uniform(0.2, 0.6)
    for i in range(n):
        t = i / n
        v = base + 60 * math.exp(-((t - hi) ** 2) / 0.01) - 50 * t + r.uniform(-6, 6)
        d.line([x0, y0 + i, x1, y0 + i], fill=int(max(0, min(255, v))))


def _sign(r, size):
    """A sign, sticker or van side lettering: lines of words on a panel.
    Several lines, lower case and long lines make it unlike a plate."""
    h = int(size * r.uniform(0.03, 0.09))
    lines = [_words(r) for _ in range(r.randint(1, 4))]
    if len(lines) == 1 and r.random() < 0.7:
        lines[0] += " " + _words(r) + " " + _words(r)
    W = int(h * 0.65 * max(len(t) for t in lines)) + 2 * h
    H = int(h * 1.3 * len(lines)) + h
    panel = Image.new("L", (max(8, W), max(8, H)), r.randrange(256))
    d = ImageDraw.Draw(panel)
    if r.random() < 0.5:
        d.rectangle([1, 1, W - 2, H - 2], outline=r.randrange(256), width=max(1, h // 8))
    for i, t in enumerate(lines):
        _text(r, d, h, h // 2 + int(i * h * 1.3), h, t)
    return panel


class Composer:
    """Makes (image uint8 HxW, quads float (n,4,2)) scenes from a seeded rng."""

    def __init__(self, seed=0, size=320, synth_share=0.35, aspect_jitter=1.15, us_weight=1.0, sign_share=0.3,
                 min_width=12, tilt=15):
        self.rng = random.Random(seed)
        # The steepest rotation drawn, in degrees; above 15, plates are also
        # slanted and keystoned (see _warp).
        self.tilt = tilt
        # The narrowest plate drawn, in scene pixels.
        self.min_width = min_width
        # Scenes with signs and lettering pasted on: text that is not a plate.
        self.sign_share = sign_share
        self.size = size
        # Plates are stretched by up to this factor either way, so that
        # their extent must be read from their edges, not guessed from
        # their country's usual shape.
        self.aspect_jitter = aspect_jitter
        self.weights = (1.0, us_weight, 1.2)
        self.synth_share = synth_share if synth else 0.0
        self.crops = load_crops()
        self.bgs = load_backgrounds()
        self.synth_pool = []

    # -- plates ---------------------------------------------------------
    def _plate(self):
        """A grey plate image (PIL L) with random colour-to-grey weights."""
        r = self.rng
        if r.random() < self.synth_share:
            # Rendering is slow next to a training step: keep a rolling pool.
            if len(self.synth_pool) < 400 or r.random() < 0.15:
                im, _, _ = synth.render_plate(r)
                if len(self.synth_pool) < 400:
                    self.synth_pool.append(im)
                else:
                    self.synth_pool[r.randrange(400)] = im
            else:
                im = r.choice(self.synth_pool)
        else:
            name = r.choices(list(self.crops), weights=self.weights)[0]
            im = r.choice(self.crops[name])
        w = [r.uniform(0.1, 1.0) for _ in range(3)]
        s = sum(w)
        g = im.convert("L", (w[0] / s, w[1] / s, w[2] / s, 0))
        if r.random() < 0.08:
            g = Image.eval(g, lambda v: 255 - v)
        return g

    def _vehicle(self, plate, pw, ph):
        """Draws a vehicle-like patch around a pw x ph plate.

        Returns the patch (PIL L) and the plate's corners in it.
        """
        r = self.rng
        if r.random() < 0.25:  # a bare plate (held in a hand, on a wall...)
            mx, my = int(pw * r.uniform(0.05, 0.3)) + 2, int(ph * r.uniform(0.1, 0.5)) + 2
            W, H = pw + 2 * mx, ph + 2 * my
            patch = Image.new("L", (W, H), r.randrange(256))
            x0, y0 = mx, my
        else:
            W = int(pw * r.uniform(1.8, 4.5))
            H = int(ph * r.uniform(2.5, 6.0))
            body = r.choice([r.randrange(10, 70), r.randrange(60, 200), r.randrange(180, 250)])
            patch = Image.new("L", (W, H), body)
            d = ImageDraw.Draw(patch)
            x0 = int((W - pw) * r.uniform(0.3, 0.7))
            y0 = int((H - ph) * r.uniform(0.35, 0.75))
            # bumper band through or under the plate
            if r.random() < 0.7:
                by = y0 + int(ph * r.uniform(-0.3, 1.2))
                bh = int(ph * r.uniform(0.6, 1.6))
                if r.random() < 0.35:  # chrome: bright, banded by reflections
                    _chrome(r, d, 0, by, W, by + bh)
                else:
                    d.rectangle([0, by, W, by + bh], fill=max(0, min(255, body + r.randint(-60, 60))))
            # grille: horizontal or vertical slats above the plate
            if r.random() < 0.5:
                gy0 = max(0, y0 - int(ph * r.uniform(1.2, 2.5)))
                gy1 = max(gy0 + 2, y0 - int(ph * 0.2))
                gx0, gx1 = int(W * r.uniform(0.05, 0.3)), int(W * r.uniform(0.7, 0.95))
                ink = r.randrange(0, 100)
                step = max(2, int(ph * r.uniform(0.12, 0.4)))
                if r.random() < 0.6:
                    for y in range(gy0, gy1, step):
                        d.rectangle([gx0, y, gx1, y + step // 2], fill=ink)
                else:
                    for x in range(gx0, gx1, step):
                        d.rectangle([x, gy0, x + step // 2, gy1], fill=ink)
            # lights at the sides, a dark window band at the top
            if r.random() < 0.6:
                lw, lh = int(W * r.uniform(0.08, 0.2)), int(ph * r.uniform(0.6, 1.5))
                ly = y0 - int(ph * r.uniform(0.5, 2.0))
                v = r.randrange(120, 256)
                d.rectangle([int(W * 0.02), ly, int(W * 0.02) + lw, ly + lh], fill=v)
                d.rectangle([W - int(W * 0.02) - lw, ly, W - int(W * 0.02), ly + lh], fill=v)
            if r.random() < 0.4:
                d.rectangle([int(W * 0.1), 0, int(W * 0.9), int(H * r.uniform(0.1, 0.25))], fill=r.randrange(0, 60))
            # text-like clutter (badges, dealer stickers, model names) that is not a plate
            if r.random() < 0.3:
                tx, ty = r.randrange(W), r.randrange(H)
                for _ in range(r.randint(3, 7)):
                    cw = max(1, int(ph * 0.15))
                    d.rectangle([tx, ty, tx + cw, ty + int(ph * 0.3)], fill=r.choice([0, 255]))
                    tx += int(cw * 2.2)
            if r.random() < 0.35:
                _text(r, d, r.randrange(W), r.randrange(H), int(ph * r.uniform(0.15, 0.7)), _words(r))
            # a recess or mount around the plate: its edges are stronger than
            # the plate's own, and a box must still stop at the plate
            if r.random() < 0.35:
                rx, ry = int(pw * r.uniform(0.06, 0.4)), int(ph * r.uniform(0.1, 0.6))
                shade = max(0, min(255, body + r.choice([-1, 1]) * r.randint(20, 90)))
                d.rounded_rectangle([x0 - rx, y0 - ry, x0 + pw + rx, y0 + ph + ry],
                                    radius=int(ph * r.uniform(0, 0.4)), fill=shade)
                if r.random() < 0.6:  # the shadow under the recess's top lip
                    d.rectangle([x0 - rx, y0 - ry, x0 + pw + rx, y0 - ry + max(1, ry // 3)],
                                fill=max(0, shade - r.randint(30, 90)))
            if r.random() < 0.5:
                patch = patch.filter(ImageFilter.GaussianBlur(r.uniform(0.3, 1.0) * max(1, ph / 20)))
        if r.random() < 0.3:  # a dark frame or holder around the plate
            fr = max(1, int(ph * r.uniform(0.04, 0.12)))
            ImageDraw.Draw(patch).rectangle([x0 - fr, y0 - fr, x0 + pw + fr, y0 + ph + fr], fill=r.randrange(0, 80))
        patch.paste(plate, (x0, y0))
        quad = [(x0, y0), (x0 + pw, y0), (x0 + pw, y0 + ph), (x0, y0 + ph)]
        return patch, quad

    def _warp(self, pw, ph, W, H):
        """A random homography for a W x H patch around a pw x ph plate:
        rotation within +-tilt degrees, a yaw squeeze and corner jitter.
        With a tilt over 15, a quarter of the plates are also slanted (top
        and bottom edges sloping while the sides stay upright, as a plate
        seen from above and to one side) and a quarter keystoned (one side
        taller than the other); at 15 it draws as it did before there
        was a choice, neither slanted nor keystoned."""
        r, t = self.rng, self.tilt
        a = math.radians(r.gauss(0, 6)) if r.random() < 0.8 else math.radians(r.uniform(-t, t))
        a = max(-math.radians(t), min(math.radians(t), a))
        sx = r.uniform(0.75, 1.0) if r.random() < 0.4 else 1.0
        j = r.uniform(0, 0.12) if r.random() < 0.6 else 0.0
        slant = keystone = 0.0
        if t > 15:
            slant = r.uniform(-0.4, 0.4) if r.random() < 0.25 else 0.0
            keystone = r.uniform(-0.25, 0.25) if r.random() < 0.25 else 0.0
        src = [(0, 0), (W, 0), (W, H), (0, H)]
        ca, sa = math.cos(a), math.sin(a)
        dst = []
        for x, y in src:
            x = (x - W / 2) * sx + r.uniform(-j, j) * pw
            y = (y - H / 2) + r.uniform(-j, j) * ph
            y = y * (1 + keystone * x / (W / 2)) + slant * x
            dst.append((x * ca - y * sa, x * sa + y * ca))
        return homography(src, dst)

    # -- scene ----------------------------------------------------------
    def _background(self):
        r, S = self.rng, self.size
        if r.random() < 0.85:
            im = r.choice(self.bgs)
            w, h = im.size
            cw = int(min(w, h) * r.uniform(0.35, 1.0))
            x, y = r.randrange(w - cw + 1), r.randrange(h - cw + 1)
            bg = im.crop((x, y, x + cw, y + cw)).resize((S, S), Image.BILINEAR)
            if r.random() < 0.5:
                bg = bg.transpose(Image.FLIP_LEFT_RIGHT)
            return bg
        bg = Image.new("L", (S, S), r.randrange(256))
        d = ImageDraw.Draw(bg)
        for _ in range(r.randint(5, 40)):
            x, y = r.randrange(-50, S), r.randrange(-50, S)
            d.rectangle([x, y, x + r.randrange(4, 160), y + r.randrange(4, 120)], fill=r.randrange(256))
        return bg.filter(ImageFilter.GaussianBlur(r.uniform(0, 1.5)))

    def scene(self):
        r, S = self.rng, self.size
        bg = self._background()
        night = r.random() < 0.15
        if night:
            bg = Image.eval(bg, lambda v, k=r.uniform(0.1, 0.4): int(v * k))
        for _ in range(r.choice([0, 0, 1, 2]) if r.random() < self.sign_share else 0):
            sign = _sign(r, S)
            a = r.uniform(-10, 10)
            mask = Image.new("L", sign.size, 255).rotate(a, Image.BILINEAR, expand=True)
            sign = sign.rotate(a, Image.BILINEAR, expand=True)
            bg.paste(sign, (r.randrange(-sign.size[0] // 2, S), r.randrange(-sign.size[1] // 2, S)), mask)
        n = r.choices([0, 1, 2, 3, 4], weights=[0.1, 0.5, 0.22, 0.12, 0.06])[0]
        quads, taken = [], []
        for _ in range(n):
            for _attempt in range(8):
                # log-uniform plate width: 12..300 px of a 320 px scene that
                # stands for part of a 512 px wide frame.
                pw = int(math.exp(r.uniform(math.log(self.min_width), math.log(300 if r.random() < 0.2 else 160))))
                plate = self._plate()
                j = math.log(self.aspect_jitter)
                asp = plate.size[1] / plate.size[0] * math.exp(r.uniform(-j, j))
                ph = max(4, int(pw * asp))
                plate = plate.resize((pw, ph), Image.BOX if plate.size[0] > pw else Image.BILINEAR)
                plate = Image.eval(plate, lambda v, c=r.uniform(0.6, 1.2), b=r.uniform(-40, 40): int(max(0, min(255, v * c + b))))
                if night and r.random() < 0.6:  # IR look: plate glows
                    plate = Image.eval(plate, lambda v: int(min(255, 60 + v)))
                patch, pq = self._vehicle(plate, pw, ph)
                W, H = patch.size
                Hm = self._warp(pw, ph, W, H)
                corners = apply_h(Hm, [(0, 0), (W, 0), (W, H), (0, H)])
                lo, hi = corners.min(0), corners.max(0)
                pquad = apply_h(Hm, pq)
                plo, phi = pquad.min(0), pquad.max(0)
                if (phi - plo).max() > S * 0.95:
                    continue
                # place so the plate centre is inside and most of it visible
                cx = r.uniform(-plo[0] - (phi[0] - plo[0]) * 0.1, S - phi[0] + (phi[0] - plo[0]) * 0.1)
                cy = r.uniform(-plo[1] - (phi[1] - plo[1]) * 0.1, S - phi[1] + (phi[1] - plo[1]) * 0.1)
                box = (lo[0] + cx, lo[1] + cy, hi[0] + cx, hi[1] + cy)
                if any(not (box[2] < b[0] or box[0] > b[2] or box[3] < b[1] or box[1] > b[3]) for b in taken):
                    continue
                ox, oy = int(math.floor(box[0])), int(math.floor(box[1]))
                ow, oh = int(math.ceil(box[2])) - ox + 1, int(math.ceil(box[3])) - oy + 1
                T = np.array([[1, 0, cx - ox], [0, 1, cy - oy], [0, 0, 1]]) @ Hm
                Ti = np.linalg.inv(T)
                coeffs = tuple((Ti / Ti[2, 2]).flatten()[:8])
                warped = patch.transform((ow, oh), Image.PERSPECTIVE, coeffs, Image.BILINEAR)
                mask = Image.new("L", patch.size, 255).transform((ow, oh), Image.PERSPECTIVE, coeffs, Image.BILINEAR)
                if night:
                    warped = Image.eval(warped, lambda v, k=r.uniform(0.3, 0.9): int(v * k))
                bg.paste(warped, (ox, oy), mask)
                taken.append(box)
                quads.append(pquad + np.array([cx, cy]))
                break
        # whole-scene camera effects
        if r.random() < 0.3:
            bg = bg.filter(ImageFilter.GaussianBlur(r.uniform(0.3, 1.6)))
        if r.random() < 0.2:  # low resolution camera, upscaled
            f = r.uniform(0.4, 0.8)
            bg = bg.resize((int(S * f), int(S * f)), Image.BOX).resize((S, S), Image.BILINEAR)
        a = np.asarray(bg, np.float32)
        a = (a - 128) * r.uniform(0.6, 1.3) + 128 + r.uniform(-40, 40)
        if r.random() < 0.3:
            g = r.uniform(0.6, 1.6)
            a = 255 * (np.clip(a, 0, 255) / 255) ** g
        if r.random() < 0.5:
            a = a + np.random.default_rng(r.randrange(1 << 30)).normal(0, r.uniform(1, 10), a.shape)
        a = np.clip(a, 0, 255).astype(np.uint8)
        if r.random() < 0.5:
            buf = io.BytesIO()
            Image.fromarray(a).save(buf, "JPEG", quality=r.randint(25, 90))
            a = np.asarray(Image.open(io.BytesIO(buf.getvalue())))
        if r.random() < 0.1:  # the zero padding the C side adds up to a multiple of 32
            k = r.randint(1, 31)
            a = a.copy()
            if r.random() < 0.5:
                a[S - k:, :] = 0
            else:
                a[:, S - k:] = 0
        q = np.array(quads, np.float32).reshape(-1, 4, 2)
        return a, q


def targets(quads, h, w, stride=det_model.STRIDE, scale=det_model.CORNER_SCALE):
    """Heatmap (h/s, w/s), corner offsets (8, h/s, w/s) and their weight.

    The heatmap is an elliptical Gaussian per plate whose peak (exactly 1)
    is the cell holding the plate centre; corner offsets are learnt on every
    cell where that plate's Gaussian is above 0.3, weighted by it, relative
    to the cell centre, so decoding at a slightly-off peak still works.
    """
    oh, ow = h // stride, w // stride
    hm = np.zeros((oh, ow), np.float32)
    reg = np.zeros((8, oh, ow), np.float32)
    wt = np.zeros((oh, ow), np.float32)
    ys = (np.arange(oh) + 0.5) * stride
    xs = (np.arange(ow) + 0.5) * stride
    for q in quads:
        c = q.mean(0)
        bw, bh = q[:, 0].max() - q[:, 0].min(), q[:, 1].max() - q[:, 1].min()
        ix, iy = int(c[0] // stride), int(c[1] // stride)
        if not (0 <= ix < ow and 0 <= iy < oh):
            continue
        sx = max(0.7, bw / stride / 6)
        sy = max(0.7, bh / stride / 6)
        gx = np.exp(-((np.arange(ow) - ix) ** 2) / (2 * sx * sx))
        gy = np.exp(-((np.arange(oh) - iy) ** 2) / (2 * sy * sy))
        g = gy[:, None] * gx[None, :]
        upd = (g > hm) & (g > 0.3)
        hm = np.maximum(hm, g)
        hm[iy, ix] = 1.0
        yy, xx = np.nonzero(upd)
        for k in range(4):
            reg[2 * k, yy, xx] = (q[k, 0] - xs[xx]) / scale
            reg[2 * k + 1, yy, xx] = (q[k, 1] - ys[yy]) / scale
        # IoU cares about corner error relative to plate size, so small
        # plates weigh more than large ones (whose pixels are cheap).
        wt[yy, xx] = g[yy, xx] * min(3.0, max(0.15, 40.0 / max(bw, bh, 1.0)))
    return hm, reg, wt


def batch(comp, n):
    """n scenes as float tensors ready for the loss."""
    import torch
    xs, hms, regs, wts = [], [], [], []
    for _ in range(n):
        a, q = comp.scene()
        hm, reg, wt = targets(q, *a.shape)
        xs.append(a)
        hms.append(hm)
        regs.append(reg)
        wts.append(wt)
    x = torch.from_numpy(np.stack(xs)[:, None].astype(np.float32) / 255.0)
    return x, torch.from_numpy(np.stack(hms)[:, None]), torch.from_numpy(np.stack(regs)), torch.from_numpy(np.stack(wts))


if __name__ == "__main__":
    import sys
    import time
    c = Composer(seed=1, aspect_jitter=1.5)
    t = time.time()
    scenes = [c.scene() for _ in range(64)]
    print("%.1f ms per scene" % ((time.time() - t) / 64 * 1000))
    out = sys.argv[1] if len(sys.argv) > 1 else "/tmp/det_scenes.png"
    sheet = Image.new("RGB", (8 * 320, 4 * 320))
    for i, (a, q) in enumerate(scenes[:32]):
        im = Image.fromarray(a).convert("RGB")
        d = ImageDraw.Draw(im)
        for p in q:
            d.polygon([tuple(x) for x in p], outline=(255, 0, 0))
            d.ellipse([p[0][0] - 2, p[0][1] - 2, p[0][0] + 2, p[0][1] + 2], fill=(0, 255, 0))
        sheet.paste(im, ((i % 8) * 320, (i // 8) * 320))
    sheet.save(out)

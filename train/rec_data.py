"""Training and test samples for the plate recogniser.

Every sample is a grey plate crop prepared exactly as src/lib/recog.c
prepares one: two-line plates (aspect below TWO_LINE_ASPECT) are cut into
their top and bottom halves laid side by side, the crop is resized to
IN_W x IN_H and normalised to zero mean and unit deviation.

Held-out rule: real crops whose file number ends in 0 (00010.jpg, ...) are
the test split and are never trained on; photos-dev is never trained on.
"""
import csv, io, math, os, random
import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageOps

import synth

IN_H, IN_W = 32, 128
TWO_LINE_ASPECT = 1.6
ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
DATA = synth.DATA
# Styles of the synthetic plates (over synth.STYLES: GB, EU, US, Brazil).
# Brazil's share is twice the detector's: its plates drawn with real
# old-plate tiles and every letter alike offset the real Brazilian crops'
# skew towards Q. GB keeps the detector's share, Brazil's taken from EU
# and US: with GB at 0.52 a fine-tune read the synthetic GB set 98.85%,
# at 0.62 98.95% (models/RECOGNISER.md, 2026-12-07).
SYNTH_WEIGHTS = [0.62, 0.1, 0.08, 0.2]


def gray(im):
    # The luma weights libjpeg uses, so Python and C see the same grey.
    return im.convert("L") if im.mode != "L" else im


def resize(im, w, h):
    return im.resize((w, h), Image.BOX if im.size[0] >= w else Image.BILINEAR)


def prepare(im):
    """PIL crop -> float32 (IN_H, IN_W) array, as the C library does it."""
    g = gray(im)
    w, h = g.size
    if w < TWO_LINE_ASPECT * h:
        top = resize(g.crop((0, 0, w, h // 2)), IN_W // 2, IN_H)
        bot = resize(g.crop((0, h // 2, w, h)), IN_W // 2, IN_H)
        g = Image.new("L", (IN_W, IN_H))
        g.paste(top, (0, 0))
        g.paste(bot, (IN_W // 2, 0))
    else:
        g = resize(g, IN_W, IN_H)
    a = np.asarray(g, dtype=np.float32) / 255.0
    return (a - a.mean()) / (a.std() + 0.02)


def encode(text):
    return [ALPHABET.index(c) + 1 for c in text]


def file_number(name):
    return int(os.path.splitext(name)[0])


LABELS = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "labels"))


def label_rows(folder):
    """The rows of a shared folder's labels.csv, plate upper case, with the
    project's hand corrections (train/labels/FOLDER-fixes.csv) applied:
    the shared labels misread about one Brazilian plate in ten."""
    fixes = {}
    path = os.path.join(LABELS, folder + "-fixes.csv")
    if os.path.exists(path):
        with open(path) as f:
            fixes = {row["image"]: row["plate"] for row in csv.DictReader(f)}
    with open(os.path.join(DATA, folder, "labels.csv")) as f:
        rows = list(csv.DictReader(f))
    for row in rows:
        row["plate"] = fixes.get(row["image"], row["plate"]).upper()
    return rows


def real_labels(split):
    """(folder, image name, text, country) of the labelled real crops of a
    split. Brazilian and US crops: the shared labels, held out by file
    number. European crops come unlabelled: the project's hand-read ones
    are the test split (plate-crops-eu.csv) and its hand-checked readings
    the training split (plate-crops-eu-train.csv, kept apart from the test
    files and texts when it was made)."""
    out = []
    for folder, country in (("plate-crops-br", "br"), ("plate-crops-us", "us")):
        for row in label_rows(folder):
            if (file_number(row["image"]) % 10 == 0) == (split == "test"):
                out.append((folder, row["image"], row["plate"], country))
    eu = "plate-crops-eu.csv" if split == "test" else "plate-crops-eu-train.csv"
    with open(os.path.join(LABELS, eu)) as f:
        out += [("plate-crops-eu", row["image"], row["plate"], "eu") for row in csv.DictReader(f)]
    return out


def load_real(split):
    """Labelled real crops: list of (PIL RGB image, text, country)."""
    out = []
    for folder, name, text, country in real_labels(split):
        if not text or any(c not in ALPHABET for c in text):
            continue
        im = Image.open(os.path.join(DATA, folder, name)).convert("RGB")
        im.load()
        out.append((im, text, country))
    return out


def load_photos_dev():
    """Plates of photos-dev cut out by their labelled boxes (measure only)."""
    out = []
    d = os.path.join(DATA, "photos-dev")
    for row in label_rows("photos-dev"):
        im = ImageOps.exif_transpose(Image.open(os.path.join(d, row["image"]))).convert("RGB")
        x, y, w, h = (int(row[k]) for k in "xywh")
        x0, y0 = max(0, x), max(0, y)
        out.append((im.crop((x0, y0, x + w, y + h)), row["plate"], row["country"]))
    return out


_backgrounds = None


def background(rng, w, h):
    """A random patch of a plate-free scene, w x h."""
    global _backgrounds
    if _backgrounds is None:
        d = os.path.join(DATA, "negatives")
        names = sorted(os.listdir(d))[::6]
        _backgrounds = []
        for n in names:
            im = Image.open(os.path.join(d, n)).convert("RGB")
            im.thumbnail((320, 320))
            _backgrounds.append(im)
    b = rng.choice(_backgrounds)
    s = min(b.size[0] / w, b.size[1] / h) * rng.uniform(0.5, 1.0)
    cw, ch = max(1, int(w * s)), max(1, int(h * s))
    x, y = rng.randint(0, b.size[0] - cw), rng.randint(0, b.size[1] - ch)
    return b.crop((x, y, x + cw, y + ch)).resize((w, h), Image.BILINEAR)


def perspective_crop(rng, im, quad, out_w, out_h, jitter):
    """Samples quad (TL, TR, BR, BL) of im into out_w x out_h, each corner
    moved by up to `jitter` of the quad's size, as a detector might miss."""
    w = max(abs(quad[1][0] - quad[0][0]), 1)
    h = max(abs(quad[3][1] - quad[0][1]), 1)
    q = [(x + rng.uniform(-jitter, jitter) * w, y + rng.uniform(-jitter, jitter) * h * 2) for x, y in quad]
    return quad_crop(im, q, out_w, out_h)


def quad_crop(im, q, out_w, out_h):
    """Samples quad q (TL, TR, BR, BL) of im into out_w x out_h."""
    # PIL's QUAD transform maps the output rectangle onto the quad (UL, LL, LR, UR).
    data = (q[0][0], q[0][1], q[3][0], q[3][1], q[2][0], q[2][1], q[1][0], q[1][1])
    return im.transform((out_w, out_h), Image.QUAD, data, Image.BILINEAR)


def quad_size(q):
    """Mean width and height of quad q (TL, TR, BR, BL)."""
    return ((math.dist(q[0], q[1]) + math.dist(q[3], q[2])) / 2,
            (math.dist(q[0], q[3]) + math.dist(q[1], q[2])) / 2)


def camera(rng, im, strength=1.0):
    """Light, focus, sensor and compression damage."""
    g = gray(im)
    r = rng.random()
    if r < 0.08 * strength:    # infrared: plate glows, paint goes dark
        g = ImageOps.autocontrast(g, cutoff=rng.uniform(0, 5))
        g = g.point(lambda v: min(255, int(255 * (v / 255) ** rng.uniform(0.4, 0.8))))
    elif r < 0.25 * strength:  # low light
        f = rng.uniform(0.15, 0.5)
        g = g.point(lambda v: int(v * f))
    elif r < 0.35 * strength:  # glare
        f = rng.uniform(1.2, 1.8)
        g = g.point(lambda v: min(255, int(v * f + 30)))
    if rng.random() < 0.5 * strength:
        g = g.filter(ImageFilter.GaussianBlur(rng.uniform(0.2, 1.6 * strength)))
    if rng.random() < 0.4 * strength:  # a far plate: few pixels
        w, h = g.size
        s = rng.uniform(0.25, 0.7)
        g = g.resize((max(8, int(w * s)), max(4, int(h * s))), Image.BILINEAR).resize((w, h), Image.BILINEAR)
    a = np.asarray(g, dtype=np.float32)
    if rng.random() < 0.5 * strength:
        a = a + np.random.default_rng(rng.randrange(1 << 30)).normal(0, rng.uniform(2, 14), a.shape)
    if rng.random() < 0.3:  # uneven light: a shadow edge across the plate
        x = np.linspace(-1, 1, a.shape[1])[None, :] * rng.uniform(-3, 3) + rng.uniform(-1, 1)
        a = a * (1 - rng.uniform(0.2, 0.6) * (x > 0))
    g = Image.fromarray(np.clip(a, 0, 255).astype(np.uint8))
    if rng.random() < 0.5:
        buf = io.BytesIO()
        g.save(buf, "JPEG", quality=rng.randint(15, 90))
        g = Image.open(buf)
    return g


def synthetic(rng):
    """One synthetic sample: (prepared array, text)."""
    plate, text, two = synth.render_plate(rng, weights=SYNTH_WEIGHTS)
    if rng.random() < 0.35:
        plate = synth.dirt(rng, plate)
    W, H = plate.size
    mx, my = int(W * 0.3), int(H * 0.5)
    canvas = background(rng, W + 2 * mx, H + 2 * my)
    canvas.paste(plate, (mx, my))
    if rng.random() < 0.5:   # the vehicle around it, a colour band above/below
        c = tuple(rng.randint(0, 255) for _ in range(3))
        canvas.paste(c, (0, 0, canvas.size[0], my - rng.randint(0, my // 2)))
    quad = [(mx, my), (mx + W, my), (mx + W, my + H), (mx, my + H)]
    ow = 128 if not two else 64
    crop = perspective_crop(rng, canvas, quad, ow * 2, 64 if not two else 100, rng.uniform(0.0, 0.07))
    if rng.random() < 0.5:
        crop = crop.rotate(rng.uniform(-4, 4), Image.BILINEAR, expand=False, fillcolor=(80, 80, 80))
    return prepare(camera(rng, crop)), text


def far(rng, im):
    """Sometimes the plate as a distant camera sees it: 44 to 150 pixels
    across, whatever the crop's own size. camera()'s far plate is a share
    of the crop's size, which leaves the large US crops (about 320 px)
    sharper than the 60 to 130 px plates of whole photos."""
    if rng.random() >= 0.3:
        return im
    w, h = im.size
    s = rng.uniform(44, 150) / w
    if s >= 1:
        return im
    small = im.resize((max(8, round(w * s)), max(4, round(h * s))), Image.BOX)
    return small.resize((w, h), Image.BILINEAR)


def dealer_frame(rng, canvas, mx, my, w, h):
    """Draws on canvas a dealer's frame for the w x h plate that will sit at
    (mx, my): narrow at the sides, deep and lettered above and below. A
    detector or refiner quad often takes the frame for the plate (photos-dev
    US plates read wrong from it, right from the plate). Returns how far
    past the plate, in plate widths and heights, a quad may then reach."""
    fx = rng.uniform(0.02, 0.09) * w
    ft, fb = rng.uniform(0.08, 0.35) * h, rng.uniform(0.12, 0.45) * h
    light = rng.random() < 0.5
    fill = tuple(rng.randint(170, 255) if light else rng.randint(0, 70) for _ in range(3))
    ink = tuple(rng.randint(0, 90) if light else rng.randint(170, 255) for _ in range(3))
    ImageDraw.Draw(canvas).rectangle([mx - fx, my - ft, mx + w + fx, my + h + fb], fill=fill)
    if rng.random() < 0.8:
        synth.small_text(rng, canvas, (int(mx), int(my - ft * 0.9), int(mx + w), int(my - ft * 0.15)), ink)
    if rng.random() < 0.8:
        synth.small_text(rng, canvas, (int(mx), int(my + h + fb * 0.15), int(mx + w), int(my + h + fb * 0.9)), ink)
    return fx / w + 0.04, max(ft, fb) / h + 0.05


def real(rng, sample):
    """A real crop, moved and damaged a little: (prepared array, text).

    The crops are cut tight, but a detector's quad is often looser: half
    the time the plate is set in surroundings (car paint or a scene) and
    cut out with margins of up to a sixth of its width, so that what lies
    past a plate's edge is not read as characters; a third of those times
    the plate sits in a dealer's frame, which the margins may take in."""
    im, text, _ = sample
    w, h = im.size
    if rng.random() < 0.5:
        quad = [(0, 0), (w, 0), (w, h), (0, h)]
        crop = perspective_crop(rng, im, quad, w, h, rng.uniform(0, 0.06))
        return prepare(camera(rng, far(rng, crop), 0.6)), text
    mx, my = int(w * 0.25), int(h * 0.5)
    if rng.random() < 0.5:
        canvas = Image.new("RGB", (w + 2 * mx, h + 2 * my), tuple(rng.randint(0, 255) for _ in range(3)))
    else:
        canvas = background(rng, w + 2 * mx, h + 2 * my)
    sx, sy = 0.16, 0.3
    if rng.random() < 0.3:
        sx, sy = dealer_frame(rng, canvas, mx, my, w, h)
    canvas.paste(im, (mx, my))
    x0, x1 = mx - rng.uniform(-0.03, sx) * w, mx + w + rng.uniform(-0.03, sx) * w
    y0, y1 = my - rng.uniform(-0.05, sy) * h, my + h + rng.uniform(-0.05, sy) * h
    quad = [(x0, y0), (x1, y0), (x1, y1), (x0, y1)]
    crop = perspective_crop(rng, canvas, quad, w, h, rng.uniform(0, 0.03))
    return prepare(camera(rng, far(rng, crop), 0.6)), text


def synthetic_test_set(n=2000, seed=20261124):
    """The fixed synthetic GB test set: a seed training never draws from."""
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        plate, text, two = synth.render_plate(rng, "gb")
        im = synth.dirt(rng, plate) if rng.random() < 0.3 else plate
        out.append((camera(rng, im, 0.7), text, "gb"))
    return out

"""Synthetic number plates: GB in all its formats first, then EU, US, BR.

render_plate(rng) draws one plate, flat and front-on, as the plate alone:
the caller (recogniser or detector data) adds the scene, the camera and the
damage. Characters come either from Debian's typefaces, squeezed into the
GB character cell (79 mm high, 50 mm wide), or from real character tiles cut
from UK and Brazilian plates (../shared/data/char-tiles-gb and -br), so the
network sees both clean shapes and the real typefaces after print, dirt and
a camera.
"""
import csv, os, random
from PIL import Image, ImageDraw, ImageFont, ImageFilter

ROOT = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.normpath(os.path.join(ROOT, "..", "..", "shared", "data"))
LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
DIGITS = "0123456789"

FONT_FILES = [
    "/usr/share/fonts/truetype/dejavu/DejaVuSansCondensed-Bold.ttf",
    "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf",
    "/usr/share/fonts/truetype/dejavu/DejaVuSansMono-Bold.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationSansNarrow-Bold.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationSans-Bold.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationMono-Bold.ttf",
    "/usr/share/fonts/truetype/roboto/unhinted/RobotoCondensed-Bold.ttf",
    "/usr/share/fonts/truetype/roboto/unhinted/RobotoCondensed-Medium.ttf",
    "/usr/share/fonts/truetype/roboto/unhinted/RobotoTTF/Roboto-Medium.ttf",
    "/usr/share/fonts/opentype/bebas-neue/BebasNeue-Bold.otf",
    "/usr/share/fonts/opentype/bebas-neue/BebasNeue-Regular.otf",
    "/usr/share/fonts/opentype/b612/B612-Bold.otf",
    "/usr/share/fonts/opentype/b612/B612Mono-Bold.otf",
    "/usr/share/fonts/truetype/freefont/FreeSansBold.ttf",
    "/usr/share/fonts/truetype/freefont/FreeMonoBold.ttf",
]
FONT_FILES = [f for f in FONT_FILES if os.path.exists(f)]
_glyphs = {}   # (font, char) -> L image of the glyph's ink, tightly cropped
_tiles = {}    # country -> char -> list of real L tiles (black ink on white)


def glyph(font_file, ch):
    key = (font_file, ch)
    if key not in _glyphs:
        f = ImageFont.truetype(font_file, 64)
        im = Image.new("L", (110, 110), 0)
        ImageDraw.Draw(im).text((14, 6), ch, fill=255, font=f)
        _glyphs[key] = im.crop(im.getbbox())
    return _glyphs[key]


def tiles(country):
    """The real character tiles of char-tiles-<country>, by character."""
    if country not in _tiles:
        t = _tiles[country] = {}
        d = os.path.join(DATA, "char-tiles-" + country)
        with open(os.path.join(d, "labels.csv")) as f:
            for row in csv.DictReader(f):
                im = Image.open(os.path.join(d, row["image"])).convert("L")
                t.setdefault(row["char"], []).append(im)
    return _tiles[country]


# ---- registration texts -------------------------------------------------

def pick(rng, s, excl=""):
    return rng.choice([c for c in s if c not in excl])


def gb_text(rng):
    """A GB mark as its groups, e.g. ['AB12', 'CDE'], in one of the formats."""
    r = rng.random()
    if r < 0.55:   # current: AB12 CDE
        age = rng.choice([f"{y:02d}" for y in list(range(2, 27)) + list(range(51, 76))])
        return [pick(rng, LETTERS, "IQZ") + pick(rng, LETTERS, "IQ") + age,
                "".join(pick(rng, LETTERS, "IQ") for _ in range(3))]
    if r < 0.70:   # prefix: A123 BCD
        return [pick(rng, LETTERS, "IOQUZ") + str(rng.randint(1, 999)),
                "".join(pick(rng, LETTERS, "IQ") for _ in range(3))]
    if r < 0.82:   # suffix: ABC 123D
        return ["".join(pick(rng, LETTERS, "IQ") for _ in range(3)),
                str(rng.randint(1, 999)) + pick(rng, LETTERS, "IOQUZ")]
    if r < 0.91:   # dateless: AB 1234 or 1234 AB
        a = "".join(pick(rng, LETTERS, "IQ") for _ in range(rng.randint(1, 3)))
        n = str(rng.randint(1, 9999))
        return [a, n] if rng.random() < 0.7 else [n, a]
    # Northern Ireland: ABZ 1234
    return [pick(rng, LETTERS, "IQ") + rng.choice(["IA", "IB", "IJ", "IL", "IW", "KZ", "LZ", "NZ",
                                                   "OI", "RZ", "SZ", "UI", "XI", "YZ", "AZ", "CZ"]),
            str(rng.randint(1, 9999))]


def eu_text(rng):
    """A continental European mark as groups (Germany, France, NL, PL, ...)."""
    L = lambda n: "".join(pick(rng, LETTERS, "IOQ") for _ in range(n))
    D = lambda n: "".join(pick(rng, DIGITS) for _ in range(n))
    f = rng.randrange(9)
    if f == 0: return [L(rng.randint(1, 3)), L(rng.randint(1, 2)), str(rng.randint(1, 9999))]  # DE
    if f == 1: return [L(2), D(3), L(2)]                          # FR, IT: AB-123-CD / AB 123CD
    if f == 2: return [D(2), L(3), D(1)] if rng.random() < .5 else [L(2), D(3), L(1)]  # NL
    if f == 3: return [L(rng.randint(2, 3)), D(rng.randint(4, 5))]  # PL
    if f == 4: return [D(1) + L(1) + D(1), D(4)]                  # CZ
    if f == 5: return [D(4), L(3)]                                # ES
    if f == 6: return [D(2) + L(1), D(rng.randint(1, 5))]         # IE: 12D 12345
    if f == 7: return [L(2), D(3) + L(2)]                         # SK
    return [L(rng.randint(1, 3)), D(rng.randint(2, 4)), L(rng.randint(0, 2))]


def us_text(rng):
    s = "".join(rng.choice(LETTERS + DIGITS) for _ in range(rng.randint(5, 7)))
    return [s] if rng.random() < 0.5 else [s[:3], s[3:]]


def br_text(rng):
    l3 = "".join(pick(rng, LETTERS) for _ in range(3))
    if rng.random() < 0.5:
        return [l3, "".join(pick(rng, DIGITS) for _ in range(4))]
    return [l3 + pick(rng, DIGITS) + pick(rng, LETTERS) + "".join(pick(rng, DIGITS) for _ in range(2))]


# ---- drawing --------------------------------------------------------------

def char_image(rng, ch, h, w, source, font_file):
    """Ink mask (L, 255 = ink) for one character in an h x w cell: from a
    real tile of country `source` ("gb", "br") where it has one, else
    drawn in font_file."""
    if source != "font" and ch in tiles(source):
        t = rng.choice(tiles(source)[ch])
        ink = Image.eval(t, lambda v: 255 - v)
    else:
        ink = glyph(font_file, ch)
    cw = w if ch not in "1I" else max(2, int(w * rng.uniform(0.35, 0.6)))
    return ink.resize((cw, h), Image.BILINEAR)


def emblem(rng, plate, x, y, w, h):
    """A seal, crest or shield in the w x h cell at (x, y): the German
    registration and state seals (two stacked discs), the Croatian and
    Slovenian crests and the Swiss canton shield (chequered or banded
    shields). The reader must see them as no character at all."""
    d = ImageDraw.Draw(plate)
    col = lambda: tuple(rng.randint(0, 255) for _ in range(3))
    kind = rng.randrange(3)
    if kind == 0:   # two seals, one above the other
        r = max(2, min(w // 2, h // 4))
        cx = x + w // 2
        for cy in (y + h // 4, y + 3 * h // 4):
            d.ellipse([cx - r, cy - r, cx + r, cy + r], fill=col(), outline=col())
            if rng.random() < 0.6:
                d.ellipse([cx - r // 2, cy - r // 2, cx + r // 2, cy + r // 2], fill=col())
    elif kind == 1:  # a shield, chequered or banded
        top, bot = y + h // 5, y + 4 * h // 5
        d.polygon([(x, top), (x + w, top), (x + w, bot - h // 8), (x + w // 2, bot), (x, bot - h // 8)],
                  fill=col(), outline=col())
        n = rng.randint(2, 4)
        for i in range(n):
            for j in range(n):
                if (i + j) % 2 and rng.random() < 0.8:
                    sx, sy = x + i * w // n, top + j * (bot - top) // n
                    d.rectangle([sx, sy, sx + w // n, sy + (bot - top) // n], fill=col())
    else:            # one round badge
        r = max(2, min(w, h) // 2 - 1)
        cx, cy = x + w // 2, y + h // 2
        d.ellipse([cx - r, cy - r, cx + r, cy + r], fill=col(), outline=col(), width=max(1, r // 4))


def draw_groups(rng, plate, groups, box, ink_colour, source, font_file, emblems=(), dash=False):
    """Lays groups out in box (x0, y0, x1, y1) with GB proportions; an
    emblem is drawn in the gap after each group index in `emblems` (-1:
    before the first group); with dash, a dot or short dash in the other
    gaps, as old Brazilian plates have between letters and digits."""
    x0, y0, x1, y1 = box
    h = int((y1 - y0) * rng.uniform(0.72, 0.86))
    cw = int(h * 50 / 79 * rng.uniform(0.85, 1.1))
    gap = int(h * 11 / 79 * rng.uniform(0.6, 1.4))
    ggap = int(h * 33 / 79 * rng.uniform(0.5, 1.3))
    # Drawn only when wanted, so that plates without emblems (and the
    # fixed-seed test sets made of them) come out as they always have.
    egap = int(h * rng.uniform(0.75, 1.0)) if emblems else 0
    gaps = [egap if i in emblems else ggap for i in range(len(groups) - 1)]
    lead = egap if -1 in emblems else 0
    n = sum(len(g) for g in groups)
    total = lead + n * cw + (n - len(groups)) * gap + sum(gaps)
    if total > x1 - x0:
        s = (x1 - x0) / total
        cw, gap, lead = max(3, int(cw * s)), int(gap * s), int(lead * s)
        gaps = [int(g * s) for g in gaps]
        total = lead + n * cw + (n - len(groups)) * gap + sum(gaps)
    x = x0 + (x1 - x0 - total) // 2 + rng.randint(-2, 2)
    y = y0 + (y1 - y0 - h) // 2 + rng.randint(-1, 1)
    if lead:
        emblem(rng, plate, x + lead // 8, y, lead * 3 // 4, h)
        x += lead
    solid = Image.new("RGB", (cw, h), ink_colour)
    for gi, g in enumerate(groups):
        for ci, ch in enumerate(g):
            m = char_image(rng, ch, h, cw, source, font_file)
            dx = (cw - m.size[0]) // 2
            plate.paste(solid.crop((0, 0) + m.size), (x + dx, y), m)
            x += cw + (gap if ci < len(g) - 1 else 0)
        if gi < len(gaps):
            if gi in emblems:
                emblem(rng, plate, x + gaps[gi] // 6, y, gaps[gi] * 2 // 3, h)
            elif dash:
                r = max(1, h // 14)
                cx, cy = x + gaps[gi] // 2, y + h // 2
                half = r if rng.random() < 0.6 else 3 * r
                ImageDraw.Draw(plate).rectangle([cx - half, cy - r, cx + half, cy + r], fill=ink_colour)
            x += gaps[gi]


SMALL_WORDS = ["MOTORS", "AUTO CENTRE", "CARS LTD", "0161 555 0123", "GARAGE", "SUNSHINE STATE",
               "LAND OF LINCOLN", "EMPIRE STATE", "www.platemaker.co.uk", "BRASIL", "VIRGINIA"]
# The state and town above the characters of an old Brazilian plate.
BR_TOWNS = ["PR - CURITIBA", "BA - SALVADOR", "BA - FEIRA DE SANTANA", "SP - SAO PAULO",
            "MG - BELO HORIZONTE", "RS - PORTO ALEGRE", "RJ - RIO DE JANEIRO", "SC - JOINVILLE",
            "PE - RECIFE", "GO - GOIANIA", "PR - LONDRINA", "CE - FORTALEZA"]


def small_text(rng, plate, box, colour, words=SMALL_WORDS):
    """Dealer names, state names, slogans: clutter the reader must ignore."""
    x0, y0, x1, y1 = box
    if y1 - y0 < 4 or x1 - x0 < 10:
        return
    f = ImageFont.truetype(rng.choice(FONT_FILES), max(6, int((y1 - y0) * 0.9)))
    t = rng.choice(words)
    ImageDraw.Draw(plate).text((x0 + rng.randint(0, max(1, (x1 - x0) // 3)), y0), t, fill=colour, font=f)


def band(rng, plate, w, h, country):
    """The blue identifier band at the left, with stars and a code."""
    d = ImageDraw.Draw(plate)
    blue = (rng.randint(0, 40), rng.randint(40, 90), rng.randint(140, 200))
    d.rectangle([0, 0, w, h], fill=blue)
    code = country if rng.random() < 0.8 else rng.choice(["GB", "UK", "D", "F", "NL", "PL", "IRL", "CZ"])
    f = ImageFont.truetype(rng.choice(FONT_FILES), max(6, int(h * 0.3)))
    d.text((max(1, w // 6), int(h * 0.55)), code, fill=(255, 255, 255) if rng.random() < .8 else (250, 210, 0), font=f)
    if rng.random() < 0.6:   # the ring of stars, or a flag
        cx, cy, r = w // 2, int(h * 0.28), max(2, int(w * 0.3))
        for i in range(12):
            import math
            a = 2 * math.pi * i / 12
            px, py = cx + r * math.cos(a), cy + r * math.sin(a)
            d.ellipse([px - 1, py - 1, px + 1, py + 1], fill=(250, 210, 0))


STYLES = ["gb", "eu", "us", "br"]
STYLE_WEIGHTS = [0.62, 0.18, 0.1, 0.1]


def render_plate(rng=random, style=None, weights=STYLE_WEIGHTS):
    """Returns (RGB image of the plate alone, text, two_line); the style
    is drawn by `weights` (over STYLES) unless given."""
    style = style or rng.choices(STYLES, weights)[0]
    two_line = style in ("gb", "br") and rng.random() < 0.12
    if style == "gb":
        groups = gb_text(rng)
    elif style == "eu":
        groups = eu_text(rng)
    elif style == "us":
        groups = us_text(rng)
    else:
        groups = br_text(rng)
    text = "".join(groups)
    br_old = style == "br" and len(groups) == 2
    scale = rng.uniform(0.45, 0.75)
    if two_line:
        W, H = int(229 * scale), int(178 * scale)
    elif style == "us" or style == "br" and rng.random() < 0.3:
        W, H = int(300 * scale), int(150 * scale)
    else:
        W, H = int(520 * scale * rng.uniform(0.8, 1.05)), int(111 * scale)
    if style == "gb":
        bg = (rng.randint(235, 255),) * 3 if rng.random() < 0.5 else \
             (rng.randint(235, 255), rng.randint(200, 235), rng.randint(0, 60))
        ink = tuple([rng.randint(0, 35)] * 3)
    elif style == "us":
        bg = tuple(rng.randint(150, 255) for _ in range(3))
        ink = tuple(rng.randint(0, 90) for _ in range(3)) if rng.random() < .7 else (rng.randint(120, 200), 0, 0)
        if rng.random() < 0.2:
            bg, ink = ink, bg
    else:
        bg = (rng.randint(220, 255),) * 3 if rng.random() < .8 else (rng.randint(200, 240), rng.randint(200, 230), rng.randint(0, 60))
        ink = tuple([rng.randint(0, 40)] * 3)
        if style == "br" and rng.random() < 0.3:
            bg = (rng.randint(150, 210),) * 3
    plate = Image.new("RGB", (W, H), bg)
    if rng.random() < 0.4:   # a printed gradient or picture behind the text (US graphics)
        ov = Image.linear_gradient("L").resize((W, H)).rotate(rng.choice([0, 90, 180, 270])).resize((W, H))
        tint = Image.new("RGB", (W, H), tuple(rng.randint(0, 255) for _ in range(3)))
        plate = Image.composite(tint, plate, Image.eval(ov, lambda v: int(v * rng.uniform(0.1, 0.35) if style == "us" else v * 0.08)))
    x0, x1, y0, y1 = int(W * 0.03), int(W * 0.97), int(H * 0.08), int(H * 0.92)
    if style in ("gb", "eu") and not two_line and rng.random() < (0.5 if style == "gb" else 0.9):
        bw = int(H * rng.uniform(0.38, 0.5))
        band(rng, plate, bw, H, {"gb": "UK", "eu": "D"}[style])
        x0 = bw + int(W * 0.02)
    if style == "br" and not br_old and rng.random() < 0.5:   # Mercosur's blue strip and country name
        ImageDraw.Draw(plate).rectangle([0, 0, W, int(H * 0.2)], fill=(20, 60, 160))
        y0 = int(H * 0.24)
    # Old Brazilian plates carry their state and town above the characters.
    if style == "us" or rng.random() < (0.7 if br_old else 0.2):
        top = 0.2 if style == "us" else 0.16 if br_old else 0.1
        small_text(rng, plate, (x0, int(H * 0.01), x1, int(H * top)), ink,
                   BR_TOWNS if br_old else SMALL_WORDS)
        # Not int(H * (top + 0.02)): 0.1 + 0.02 is not the float 0.12, and
        # a rounding flip would redraw the fixed-seed GB test sets.
        y0 = int(H * (0.22 if style == "us" else 0.18 if br_old else 0.12))
    if rng.random() < (0.5 if style == "us" else 0.15):
        small_text(rng, plate, (x0, int(H * 0.88), x1, H - 1), ink)
        y1 = int(H * 0.86)
    # Real tiles: GB's typeface, and the old Brazilian one, whose O, Q and
    # D the real Brazilian crops (mostly Parana's series, rich in Q) teach
    # with skewed odds; synthetic texts draw every letter alike.
    if style == "gb" and rng.random() < 0.45:
        source = "gb"
    elif br_old and rng.random() < 0.6:
        source = "br"
    else:
        source = "font"
    font_file = rng.choice(FONT_FILES)
    if two_line:
        mid = (y0 + y1) // 2
        draw_groups(rng, plate, [groups[0]], (x0, y0, x1, mid), ink, source, font_file)
        draw_groups(rng, plate, groups[1:] or [""], (x0, mid, x1, y1), ink, source, font_file)
    else:
        # Seals and crests between groups (Germany, Croatia, Slovenia) or
        # before them (Swiss cantons), which were read as 9, O or J.
        emblems = ()
        if style == "eu" and len(groups) > 1 and rng.random() < 0.4:
            emblems = (rng.randrange(len(groups) - 1),) if rng.random() < 0.8 else (-1,)
        draw_groups(rng, plate, groups, (x0, y0, x1, y1), ink, source, font_file, emblems,
                    br_old and rng.random() < 0.7)
    d = ImageDraw.Draw(plate)
    if rng.random() < 0.4:
        t = rng.randint(1, 4)
        d.rectangle([t, t, W - 1 - t, H - 1 - t], outline=ink, width=max(1, H // 40))
    if rng.random() < 0.3:   # fixing screws, sometimes on a character
        for _ in range(2):
            sx, sy, r = rng.randint(0, W), rng.randint(int(H * .3), int(H * .7)), max(2, H // 20)
            c = rng.choice([(190, 190, 190), (60, 60, 60), bg])
            d.ellipse([sx - r, sy - r, sx + r, sy + r], fill=c)
    if rng.random() < 0.15:  # a sticker or emblem
        sx, sy = rng.randint(0, W - H // 4), rng.randint(0, H - H // 4)
        d.rectangle([sx, sy, sx + H // 4, sy + H // 4], fill=tuple(rng.randint(0, 255) for _ in range(3)))
    return plate, text, two_line


def dirt(rng, im):
    """Mud, rust and grime: translucent blotches, darker towards the bottom."""
    W, H = im.size
    m = Image.new("L", (W, H), 0)
    d = ImageDraw.Draw(m)
    for _ in range(rng.randint(1, 12)):
        x, y = rng.randint(0, W), rng.randint(0, H)
        r = rng.randint(2, max(3, H // 3))
        d.ellipse([x - r, y - r, x + r, y + r], fill=rng.randint(20, 110))
    m = m.filter(ImageFilter.GaussianBlur(rng.uniform(1, 4)))
    col = Image.new("RGB", (W, H), (rng.randint(40, 110), rng.randint(30, 90), rng.randint(10, 60)))
    return Image.composite(col, im, m)


if __name__ == "__main__":
    import sys
    r = random.Random(int(sys.argv[1]) if len(sys.argv) > 1 else 1)
    sheet = Image.new("RGB", (1040, 600), (90, 90, 90))
    for i in range(20):
        p, t, two = render_plate(r)
        p = dirt(r, p) if r.random() < 0.3 else p
        p.thumbnail((250, 110))
        sheet.paste(p, ((i % 4) * 260, (i // 4) * 120))
        print(t, two)
    sheet.save("/tmp/synth_sheet.png")

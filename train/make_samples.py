"""Render the bundled sample images in samples/ (our own, not the shared data).

    /usr/bin/python3 train/make_samples.py

Plates are drawn with Debian's typefaces only (no real character tiles), and
the scenes are painted, so nothing here derives from third-party images.
"""
import os, random
from PIL import Image, ImageDraw, ImageFilter

import synth

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
OUT = os.path.join(ROOT, "samples")


def plate(rng, text_groups, yellow, two_line=False):
    W, H = (229, 178) if two_line else (520, 111)
    p = Image.new("RGB", (W, H), (250, 205, 20) if yellow else (245, 245, 245))
    font = "/usr/share/fonts/truetype/dejavu/DejaVuSansCondensed-Bold.ttf"
    if two_line:
        synth.draw_groups(rng, p, [text_groups[0]], (8, 10, W - 8, H // 2), (20, 20, 20), "font", font)
        synth.draw_groups(rng, p, [text_groups[1]], (8, H // 2, W - 8, H - 10), (20, 20, 20), "font", font)
    else:
        synth.band(rng, p, 48, H, "UK")
        synth.draw_groups(rng, p, text_groups, (58, 8, W - 10, H - 8), (20, 20, 20), "font", font)
    return p


def car(rng, size, plates):
    """A painted rear or front of a car with its plate, on a road."""
    W, H = size
    im = Image.new("RGB", size, (120, 130, 140))
    d = ImageDraw.Draw(im)
    d.rectangle([0, 0, W, H // 3], fill=(170, 190, 215))                       # sky
    d.rectangle([0, int(H * 0.7), W, H], fill=(70, 70, 75))                     # road
    for (cx, cy, cw, groups, yellow) in plates:
        body = tuple(rng.randint(30, 200) for _ in range(3))
        d.rounded_rectangle([cx - cw // 2, cy - cw // 3, cx + cw // 2, cy + cw // 6], radius=cw // 12, fill=body)
        d.rectangle([cx - cw // 2 + cw // 12, cy - cw // 3 - cw // 5, cx + cw // 2 - cw // 12, cy - cw // 3],
                    fill=tuple(max(0, c - 40) for c in body))                   # roof and glass
        d.rectangle([cx - cw // 2 + cw // 8, cy - cw // 3 - cw // 6, cx + cw // 2 - cw // 8, cy - cw // 3 - 4],
                    fill=(40, 50, 60))
        for s in (-1, 1):                                                       # lamps
            d.rectangle([cx + s * cw // 2 - (cw // 6 if s > 0 else 0), cy - cw // 5,
                         cx + s * cw // 2 + (0 if s > 0 else cw // 6), cy - cw // 9], fill=(200, 30, 30) if yellow else (230, 230, 210))
        p = plate(rng, groups, yellow).resize((cw // 3, cw // 3 * 111 // 520), Image.LANCZOS)
        im.paste(p, (cx - p.size[0] // 2, cy - cw // 14))
    return im.filter(ImageFilter.GaussianBlur(0.6))


def main():
    rng = random.Random(7)
    os.makedirs(OUT, exist_ok=True)
    plate(rng, ["AB12", "CDE"], False).save(os.path.join(OUT, "plate-gb-front.png"))
    plate(rng, ["YR15", "KLM"], True).save(os.path.join(OUT, "plate-gb-rear.jpg"), quality=90)
    plate(rng, ["MA68", "XYZ"], True, two_line=True).save(os.path.join(OUT, "plate-gb-motorcycle.png"))
    car(rng, (1280, 720), [(640, 470, 600, ["LD21", "HKT"], True)]).save(
        os.path.join(OUT, "street-rear.jpg"), quality=88)
    car(rng, (1280, 720), [(330, 450, 420, ["BD51", "SMR"], False),
                           (930, 480, 460, ["KX70", "PWN"], True)]).save(os.path.join(OUT, "street-two-cars.jpg"), quality=88)


if __name__ == "__main__":
    main()

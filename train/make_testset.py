"""Write the benchmark lists for bench/read.sh into a folder (default build/bench-data).

    /usr/bin/python3 train/make_testset.py [OUT]

Lists are CSV lines `path,text,set[,x,y,w,h]` for bench/read_bench.c:
the held-out real crops (file number ending in 0, never trained on; for
Europe the hand-read ones of train/labels/plate-crops-eu.csv), the
photos of photos-dev with their plate boxes, the fixed-seed synthetic GB
test set, rendered to PNG files here because it is made, not stored, and
GB scenes: fixed-seed synthetic GB plates on vehicle panels pasted into
1280x720 frames, since no real UK photo with a labelled plate is to hand;
EU scenes: the hand-read European crops pasted the same way; two-line
cuts: the two-line crops of the lists above (squarer than the
recogniser's two_line_aspect) cut close, as a tight quad cuts them;
tilted photos: each photo of photos-dev turned or slanted about its
plate by 10 to 25 degrees, as a hand-held camera or one beside the road
sees plates.
"""
import math, os, random, sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import numpy as np
import rec_data as D
import synth
from geom import apply_h, homography
from PIL import Image, ImageFilter

SCENE_SEED = 20261125   # never drawn by training, as synthetic_test_set's seed

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))


def main():
    out = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "build", "bench-data"))
    os.makedirs(os.path.join(out, "gb-synth"), exist_ok=True)
    test = D.real_labels("test")
    with open(os.path.join(out, "crops.csv"), "w") as f:
        for folder, name, text, country in test:
            f.write(f"{os.path.join(D.DATA, folder, name)},{text},{country}-crops\n")
    d = os.path.join(D.DATA, "photos-dev")
    by_size = {}
    with open(os.path.join(out, "photos-dev.csv"), "w") as f:
        for row in D.label_rows("photos-dev"):
            line = (f"{os.path.join(d, row['image'])},{row['plate']},{row['country']}-photos,"
                    f"{row['x']},{row['y']},{row['w']},{row['h']}\n")
            f.write(line)
            w, h = Image.open(os.path.join(d, row["image"])).size
            by_size.setdefault(f"{w}x{h}", []).append(line)
    with open(os.path.join(out, "photos-1280x720.csv"), "w") as f:
        f.writelines(by_size.get("1280x720", []))
    # photos-dev has few 1920x1080 photos: the 1280x720 ones, scaled up, stand in.
    big = os.path.join(out, "frames-1920x1080")
    os.makedirs(big, exist_ok=True)
    with open(os.path.join(out, "photos-1920x1080.csv"), "w") as f:
        for line in by_size.get("1280x720", []):
            path, text, set_, x, y, w, h = line.strip().split(",")
            dst = os.path.join(big, os.path.basename(path))
            if not os.path.exists(dst):
                Image.open(path).resize((1920, 1080), Image.BICUBIC).save(dst, quality=90)
            f.write(f"{dst},{text},{set_},{float(x) * 1.5:.0f},{float(y) * 1.5:.0f},"
                    f"{float(w) * 1.5:.0f},{float(h) * 1.5:.0f}\n")
    lst = os.path.join(out, "gb-synth.csv")
    if not os.path.exists(lst):
        with open(lst + ".tmp", "w") as f:
            for i, (im, text, _) in enumerate(D.synthetic_test_set(2000)):
                p = os.path.join(out, "gb-synth", f"{i:05d}.png")
                im.save(p)
                f.write(f"{p},{text},gb-synth\n")
        os.rename(lst + ".tmp", lst)
    write_two_line_cuts(out, os.path.join(out, "gb-synth.csv"), os.path.join(out, "crops.csv"))
    write_tilted(out, os.path.join(out, "photos-dev.csv"))
    # European plates in whole frames: the hand-read crops (the eu-crops
    # measure, never trained on), each in two frames, as no labelled
    # European photos are to hand.
    eu = [(Image.open(os.path.join(D.DATA, folder, name)).convert("RGB"), text)
          for folder, name, text, country in test if country == "eu"]
    for name, seed, n, plates in (("gb-scenes", SCENE_SEED, 300, gb_plate),
                                  ("eu-scenes", SCENE_SEED + 1, 2 * len(eu),
                                   lambda rng, i: eu[i % len(eu)])):
        lst = os.path.join(out, name + ".csv")
        if not os.path.exists(lst):
            write_scenes(os.path.join(out, name), lst + ".tmp", name, seed, n, plates)
            os.rename(lst + ".tmp", lst)
    print(out)


def write_two_line_cuts(out, *lists):
    """Each two-line crop of the lists cut three ways: 12% off its top and
    bottom and 4% off its right (set cut12), 8% off top and bottom (cut8),
    and uncut (cut0)."""
    lst = os.path.join(out, "two-line-cuts.csv")
    if os.path.exists(lst):
        return
    folder = os.path.join(out, "two-line-cuts")
    os.makedirs(folder, exist_ok=True)
    n = 0
    with open(lst + ".tmp", "w") as f:
        for path, text, _ in (line.strip().split(",")[:3] for name in lists for line in open(name)):
            im = Image.open(path)
            w, h = im.size
            if w >= D.TWO_LINE_ASPECT * h:
                continue
            for set_, top, right in (("cut12", 0.12, 0.04), ("cut8", 0.08, 0), ("cut0", 0, 0)):
                t = int(h * top)
                p = os.path.join(folder, f"{n:04d}-{set_}.png")
                im.crop((0, t, w - int(w * right), h - t)).save(p)
                f.write(f"{p},{text},{set_}\n")
            n += 1
    os.rename(lst + ".tmp", lst)


def write_tilted(out, dev):
    """Each photo of the list dev turned about its plate's centre (even
    lines) or slanted there, its top and bottom edges sloping while its
    sides stay upright (odd lines), by 10 to 25 degrees either way (seed
    SCENE_SEED + 2), at its own size, the corners left bare filled grey.
    The label box becomes the bounds of the labelled box so moved."""
    lst = os.path.join(out, "photos-tilted.csv")
    if os.path.exists(lst):
        return
    folder = os.path.join(out, "photos-tilted")
    os.makedirs(folder, exist_ok=True)
    rng = random.Random(SCENE_SEED + 2)
    with open(lst + ".tmp", "w") as f:
        for i, line in enumerate(open(dev)):
            path, text, set_, x, y, w, h = line.strip().split(",")
            x, y, w, h = map(float, (x, y, w, h))
            cx, cy = x + w / 2, y + h / 2
            a = math.radians(rng.uniform(10, 25) * rng.choice((-1, 1)))
            if i % 2 == 0:
                m = np.array([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]])
            else:
                m = np.array([[1, 0], [math.tan(a), 1]])
            fwd = np.eye(3)
            fwd[:2, :2] = m
            fwd[:2, 2] = np.array([cx, cy]) - m @ np.array([cx, cy])
            inv = np.linalg.inv(fwd)
            im = Image.open(path).convert("RGB")
            im = im.transform(im.size, Image.AFFINE, tuple(inv[:2].flatten()), Image.BICUBIC,
                              fillcolor=(128, 128, 128))
            p = os.path.join(folder, os.path.basename(path))
            im.save(p, quality=92)
            q = apply_h(fwd, [(x, y), (x + w, y), (x + w, y + h), (x, y + h)])
            (x0, y0), (x1, y1) = q.min(0), q.max(0)
            f.write(f"{p},{text},{set_},{x0:.0f},{y0:.0f},{x1 - x0:.0f},{y1 - y0:.0f}\n")
    os.rename(lst + ".tmp", lst)


def gb_plate(rng, i):
    """A synthetic GB plate, dirty three times in ten: (image, text)."""
    plate, text, _ = synth.render_plate(rng, "gb")
    if rng.random() < 0.3:
        plate = synth.dirt(rng, plate)
    return plate, text


def scene(rng, background, plate, text):
    """One 1280x720 RGB frame with the plate: (image, text, box x,y,w,h).
    The plate, 70 to 400 px wide, sits on a panel of car paint, and both are
    tilted, turned and put in perspective by one homography; the frame is
    then blurred, noised and JPEG-compressed as a camera would."""
    W, H = 1280, 720
    bg = background.resize((W, H), Image.BICUBIC)
    pw = math.exp(rng.uniform(math.log(70), math.log(400)))
    ph = pw * plate.size[1] / plate.size[0]
    plate = plate.resize((max(1, round(pw)), max(1, round(ph))), Image.LANCZOS)
    # The panel: car paint around the plate, a bumper's width and depth.
    mx, my = rng.uniform(0.3, 1.0) * pw, rng.uniform(0.5, 1.5) * ph
    paint = tuple(rng.randint(0, 255) for _ in range(3))
    panel = Image.new("RGB", (round(pw + 2 * mx), round(ph + 2 * my)), paint)
    panel.paste(plate, (round(mx), round(my)))
    PW, PH = panel.size
    # Where the panel's corners go: turned (yaw squeezes one side), tilted,
    # placed so the plate stays inside the frame.
    yaw, roll = rng.uniform(-0.25, 0.25), math.radians(rng.uniform(-8, 8))
    src = [(0, 0), (PW, 0), (PW, PH), (0, PH)]
    sq = [(0, -yaw * PH / 2 if yaw > 0 else 0), (PW * (1 - abs(yaw) / 2), yaw * PH / 2 if yaw < 0 else 0),
          (PW * (1 - abs(yaw) / 2), PH - (yaw * PH / 2 if yaw < 0 else 0)), (0, PH + (yaw * PH / 2 if yaw > 0 else 0))]
    c, s_ = math.cos(roll), math.sin(roll)
    cx, cy = rng.uniform(pw, W - pw), rng.uniform(1.5 * ph + 40, H - 1.5 * ph - 40)
    dst = [(cx + (x - PW / 2) * c - (y - PH / 2) * s_, cy + (x - PW / 2) * s_ + (y - PH / 2) * c) for x, y in sq]
    Hm = homography(src, dst)
    Hi = np.linalg.inv(Hm)
    warped = panel.transform((W, H), Image.PERSPECTIVE, tuple((Hi / Hi[2, 2]).flatten()[:8]), Image.BICUBIC)
    mask = Image.new("L", panel.size, 255).transform((W, H), Image.PERSPECTIVE,
                                                      tuple((Hi / Hi[2, 2]).flatten()[:8]), Image.BILINEAR)
    bg.paste(warped, (0, 0), mask)
    q = apply_h(Hm, [(mx, my), (mx + pw, my), (mx + pw, my + ph), (mx, my + ph)])
    x0, y0 = q.min(0)
    x1, y1 = q.max(0)
    if rng.random() < 0.15:   # night: dark frame, the plate lit
        bg = bg.point(lambda v, k=rng.uniform(0.3, 0.6): int(v * k))
    if rng.random() < 0.5:
        bg = bg.filter(ImageFilter.GaussianBlur(rng.uniform(0.3, 1.5)))
    a = np.asarray(bg, np.float32)
    a = a + np.random.default_rng(rng.randrange(1 << 30)).normal(0, rng.uniform(1, 8), a.shape)
    bg = Image.fromarray(np.clip(a, 0, 255).astype(np.uint8))
    return bg, text, (x0, y0, x1 - x0, y1 - y0)


def write_scenes(folder, lst, set_, seed, n, plates):
    """n frames, the i-th holding plates(rng, i), listed as set_."""
    os.makedirs(folder, exist_ok=True)
    d = os.path.join(D.DATA, "negatives")
    names = sorted(os.listdir(d))
    rng = random.Random(seed)
    backgrounds = [Image.open(os.path.join(d, x)).convert("RGB") for x in rng.sample(names, 100)]
    with open(lst, "w") as f:
        for i in range(n):
            bg = rng.choice(backgrounds)
            im, text, (x, y, w, h) = scene(rng, bg, *plates(rng, i))
            p = os.path.join(folder, f"{i:05d}.jpg")
            im.save(p, quality=rng.randint(60, 92))
            f.write(f"{p},{text},{set_},{x:.0f},{y:.0f},{w:.0f},{h:.0f}\n")


if __name__ == "__main__":
    main()

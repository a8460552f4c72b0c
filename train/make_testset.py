"""Write the benchmark lists for bench/read.sh into a folder (default build/bench-data).

    /usr/bin/python3 train/make_testset.py [OUT]

Lists are CSV lines `path,text,set[,x,y,w,h]` for bench/read_bench.c:
the held-out real crops (file number ending in 0, never trained on), the
photos of photos-dev with their plate boxes, and the fixed-seed synthetic
GB test set, rendered to PNG files here because it is made, not stored.
"""
import csv, os, sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import rec_data as D
from PIL import Image

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))


def main():
    out = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "build", "bench-data"))
    os.makedirs(os.path.join(out, "gb-synth"), exist_ok=True)
    with open(os.path.join(out, "crops.csv"), "w") as f:
        for folder, country in (("plate-crops-br", "br"), ("plate-crops-us", "us")):
            d = os.path.join(D.DATA, folder)
            for row in csv.DictReader(open(os.path.join(d, "labels.csv"))):
                if D.file_number(row["image"]) % 10 == 0:
                    f.write(f"{os.path.join(d, row['image'])},{row['plate'].upper()},{country}-crops\n")
    d = os.path.join(D.DATA, "photos-dev")
    by_size = {}
    with open(os.path.join(out, "photos-dev.csv"), "w") as f:
        for row in csv.DictReader(open(os.path.join(d, "labels.csv"))):
            line = (f"{os.path.join(d, row['image'])},{row['plate'].upper()},{row['country']}-photos,"
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
    print(out)


if __name__ == "__main__":
    main()

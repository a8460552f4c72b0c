"""Average two recognisers' weights into one, and export it.

    /usr/bin/python3 train/rec_average.py A B --weight 0.5 --out models/recogniser.nnw

A and B are checkpoints (train/out/rec.pt) or .nnw files of the network
in rec_train.py, one fine-tuned from the other: every parameter and
BatchNorm statistic becomes (1 - weight) * A + weight * B. Two networks
on one training path disagree on different plates, and their average
reads more of them than either (models/RECOGNISER.md).
"""
import argparse
import functools

import torch

import loop
import rec_train as R

if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("a")
    ap.add_argument("b")
    ap.add_argument("--weight", type=float, default=0.5, help="B's share")
    ap.add_argument("--seed", type=int, default=5999, help="calibration batch for .nnw inputs")
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    torch.set_num_threads(2)
    a, b = R.Recogniser(), R.Recogniser()
    # Both .nnw inputs calibrate on the same batch: compose it once.
    calib = functools.cache(lambda: next(iter(R.Stream(args.seed, 256)))[0])
    loop.init_from(a, args.a, calib)
    loop.init_from(b, args.b, calib)
    sa, sb = a.state_dict(), b.state_dict()
    for k, v in sa.items():
        # BatchNorm's batch counters are integers and unused in eval.
        sa[k] = (1 - args.weight) * v + args.weight * sb[k] if v.is_floating_point() else sb[k]
    a.load_state_dict(sa)
    R.export(a, args.out, 0)

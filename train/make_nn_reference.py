"""Write the reference cases tests/test_nn.c checks the C runtime against.

Each case is a small random graph built from PyTorch modules (convolutions
with BatchNorm folded by nnfile.conv_layer, pooling, upsampling, concat,
add, activations), written with nnfile.write, together with inputs of two
sizes and what PyTorch computes for them in double precision.

Container (tests/data/nn_ref_<name>.bin), little-endian:

    8 bytes   magic "NNREF1\\0\\0"
    u32       n: length of the weight file, then its n bytes
    u32       number of runs, then per run:
                u32 c, h, w, f32[c*h*w] input
                u32 c, h, w, f32[c*h*w] expected output

Run from the repository root:  /usr/bin/python3 train/make_nn_reference.py
"""
import os
import struct
import sys
import tempfile

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import nnfile  # noqa: E402

OUT_DIR = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "data"))
ACT = {"none": lambda x: x, "relu": F.relu, "sigmoid": torch.sigmoid}


class Graph:
    """Layers for nnfile plus, per layer, how PyTorch computes its output."""

    def __init__(self, in_c):
        self.in_c = in_c
        self.layers = []
        self.fns = []
        self.chans = [in_c]

    def _add(self, layer, fn, c):
        self.layers.append(layer)
        self.fns.append(fn)
        self.chans.append(c)
        return len(self.layers)

    def conv(self, x, out_c, k, s=1, p=0, groups=1, act="relu", bn=True, bias=True):
        conv = nn.Conv2d(self.chans[x], out_c, k, s, p, groups=groups, bias=bias).double()
        norm = None
        if bn:
            norm = nn.BatchNorm2d(out_c).double()
            with torch.no_grad():
                norm.weight.uniform_(0.5, 1.5)
                norm.bias.uniform_(-0.5, 0.5)
                norm.running_mean.uniform_(-0.5, 0.5)
                norm.running_var.uniform_(0.5, 2.0)
            norm.eval()
        layer = nnfile.conv_layer(conv, norm, act, inputs=(x,))

        def fn(o):
            y = conv(o[x])
            return ACT[act](norm(y) if norm is not None else y)
        return self._add(layer, fn, out_c)

    def maxpool(self, x, k, s, p=0):
        k, s, p = (_pair(v) for v in (k, s, p))
        return self._add({"op": "maxpool", "inputs": [x], "params": [*k, *s, *p]},
                         lambda o: F.max_pool2d(o[x], k, s, p), self.chans[x])

    def avgpool(self, x, k, s):
        k, s = _pair(k), _pair(s)
        return self._add({"op": "avgpool", "inputs": [x], "params": [*k, *s]},
                         lambda o: F.avg_pool2d(o[x], k, s), self.chans[x])

    def upsample(self, x, f):
        return self._add({"op": "upsample", "inputs": [x], "params": [f]},
                         lambda o: F.interpolate(o[x], scale_factor=f, mode="nearest"),
                         self.chans[x])

    def concat(self, *xs):
        return self._add({"op": "concat", "inputs": list(xs), "params": []},
                         lambda o: torch.cat([o[i] for i in xs], 1),
                         sum(self.chans[i] for i in xs))

    def add(self, a, b, act="none"):
        return self._add({"op": "add", "inputs": [a, b], "params": [nnfile.ACT[act]]},
                         lambda o: ACT[act](o[a] + o[b]), self.chans[a])

    def act(self, x, act):
        return self._add({"op": "act", "inputs": [x], "params": [nnfile.ACT[act]]},
                         lambda o: ACT[act](o[x]), self.chans[x])

    def forward(self, x):
        outs = [x]
        with torch.no_grad():
            for fn in self.fns:
                outs.append(fn(outs))
        return outs[-1]


def _pair(v):
    return tuple(v) if isinstance(v, (tuple, list)) else (v, v)


def g_conv():
    """Every convolution variety: strides, paddings, odd and 4x1 kernels, groups."""
    g = Graph(3)
    a = g.conv(0, 8, 3, 1, 1)
    a = g.conv(a, 8, 5, 2, 2, act="none", bias=False)
    a = g.conv(a, 6, (4, 1), (2, 1), (1, 0), act="sigmoid")
    a = g.conv(a, 16, 1, bn=False)
    a = g.conv(a, 8, 3, 1, 1, groups=2)
    a = g.conv(a, 8, 3, 1, 1, groups=8)                     # depthwise
    a = g.conv(a, 8, 3, 2, 1, groups=8, act="none")         # depthwise, stride 2
    a = g.conv(a, 16, (1, 3), 1, (0, 2), groups=8)          # channel multiplier
    a = g.conv(a, 12, (2, 3), (1, 2), (1, 0), groups=4, act="none")
    a = g.conv(a, 8, 1, groups=4)                           # grouped 1x1
    a = g.conv(a, 8, (1, 3), 1, 1, groups=8, act="none")    # rows of padding only
    return g, "conv", (3, 21, 27), [(3, 21, 27), (3, 17, 40)]


def g_pool():
    """Pooling with and without padding, upsampling, concat, add, activations."""
    g = Graph(4)
    a = g.conv(0, 8, 3, 1, 1, act="none")
    b = g.maxpool(a, 3, 2, 1)
    f = g.upsample(b, 2)
    h = g.concat(f, a, 0)
    i = g.conv(h, 8, 1)
    j = g.add(i, a, "relu")
    k = g.add(j, a)
    m = g.act(k, "sigmoid")
    c = g.maxpool(a, (2, 1), (2, 1))
    n = g.act(c, "relu")
    o = g.maxpool(m, 2, 2)
    p = g.conv(n, 8, (1, 3), (1, 2), (0, 1))
    d = g.avgpool(c, (1, 2), (1, 2))
    e = g.avgpool(a, 2, 2)
    t = g.avgpool(g.upsample(a, 3), (3, 2), 6)
    g.concat(o, p, d, e, t)
    return g, "pool", (4, 12, 18), [(4, 12, 18), (4, 24, 12)]


def g_wide():
    """Sizes that cross the GEMM's blocking: K over 256, rows not a multiple of 6."""
    g = Graph(64)
    a = g.conv(0, 40, 3, 1, 1)
    b = g.conv(a, 300, 1, act="none")
    c = g.conv(b, 13, 1, act="relu")
    d = g.conv(c, 7, (3, 5), (2, 3), (2, 1), act="sigmoid")
    return g, "wide", (64, 9, 23), [(64, 9, 23), (64, 5, 3)]


def g_recog():
    """A recogniser in miniature: a CRNN-style stack on a grey plate crop."""
    g = Graph(1)
    a = g.conv(0, 8, 3, 1, 1)
    a = g.maxpool(a, 2, 2)
    a = g.conv(a, 16, 3, 1, 1)
    a = g.maxpool(a, 2, 2)
    a = g.conv(a, 16, 3, 1, 1, groups=16)
    a = g.conv(a, 24, 1)
    a = g.maxpool(a, (2, 1), (2, 1))
    a = g.conv(a, 24, (4, 1), 1, 0)
    a = g.conv(a, 11, 1, act="none", bn=False)
    return g, "recog", (1, 32, 64), [(1, 32, 64), (1, 32, 100)]


def g_skip():
    """A detector's top-down path: 1x1 convolutions of an upsampling
    concatenated with a skip (the graph input, too), which the runtime
    splits, and one whose concatenation is read twice, which it cannot."""
    g = Graph(6)
    a = g.conv(0, 8, 3, 2, 1)
    b = g.conv(a, 12, 3, 2, 1)
    d = g.conv(g.concat(g.upsample(b, 2), a), 7, 1)
    e = g.conv(g.concat(g.upsample(d, 2), 0), 5, 1, act="sigmoid")
    c = g.concat(g.upsample(d, 2), 0)
    f = g.conv(c, 4, 1, act="none")
    h = g.conv(c, 3, 1)
    g.concat(e, f, h)
    return g, "skip", (6, 12, 20), [(6, 12, 20), (6, 8, 28)]


def write_case(g, name, in_shape, run_shapes, kind="detector"):
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "net.nnw")
        nnfile.write(path, kind, in_shape, {"name": name, "test": "yes"}, g.layers)
        with open(path, "rb") as f:
            nnw = f.read()
    out = bytearray(b"NNREF1\0\0")
    out += struct.pack("<I", len(nnw)) + nnw
    out += struct.pack("<I", len(run_shapes))
    for shape in run_shapes:
        x = torch.randn(1, *shape, dtype=torch.float64)
        y = g.forward(x)
        for t in (x, y):
            t = t[0].numpy().astype("<f4")
            out += struct.pack("<3I", *t.shape) + t.tobytes()
    path = os.path.join(OUT_DIR, f"nn_ref_{name}.bin")
    with open(path, "wb") as f:
        f.write(out)
    print(f"{path}: {len(g.layers)} layers, {len(out)} bytes")


def main():
    torch.set_num_threads(1)
    torch.manual_seed(1)
    os.makedirs(OUT_DIR, exist_ok=True)
    for make in (g_conv, g_pool, g_wide, g_recog, g_skip):
        g, name, in_shape, runs = make()
        write_case(g, name, in_shape, runs, "recogniser" if name == "recog" else "detector")


if __name__ == "__main__":
    main()

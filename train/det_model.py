"""The plate detector network, its loss, and its export to an nn weight file.

A small fully-convolutional net on one grey channel: a MobileNet-like
encoder down to stride 32, a top-down path that upsamples and concatenates
the stride 16, 8 and 4 features (the stride 4 skip is what keeps plates of
24 input pixels findable), and a CenterNet-style head at stride 4:

  channel 0     plate-centre heatmap (sigmoid)
  channels 1..8 the corners TL, TR, BR, BL as (dx, dy) from the cell centre,
                divided by CORNER_SCALE input pixels

Every layer maps to one op of the `nn` runtime (docs/nnfile.md), so the
export below is a straight walk of the modules with BatchNorm folded.
Input height and width must be multiples of 32 (the C side pads).
"""
import torch
import torch.nn as nn
import torch.nn.functional as F

import nnfile
import nnrun

STRIDE = 4
CORNER_SCALE = 32.0
ALIGN = 32
MAX_SIDE = 512  # frames are resized to fit MAX_SIDE x MAX_SIDE
HEADS = "0:centre_heatmap_sigmoid,1-8:corners_TL_TR_BR_BL_dxdy_from_cell_centre_div_%g" % CORNER_SCALE


class CBR(nn.Module):
    """Convolution, BatchNorm, ReLU: one conv2d op after folding."""

    def __init__(self, cin, cout, k=1, s=1, groups=1):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, k, s, k // 2, groups=groups, bias=False)
        self.bn = nn.BatchNorm2d(cout)

    def forward(self, x):
        return F.relu(self.bn(self.conv(x)))


def dws(cin, cout, s=1):
    """Depthwise 3x3 then pointwise: the cheap block used everywhere."""
    return [CBR(cin, cin, 3, s, groups=cin), CBR(cin, cout, 1)]


class Detector(nn.Module):
    def __init__(self):
        super().__init__()
        self.s2 = nn.Sequential(CBR(1, 16, 3, 2))
        self.s4 = nn.Sequential(*dws(16, 32, 2), *dws(32, 32))
        self.s8 = nn.Sequential(*dws(32, 64, 2), *dws(64, 64))
        self.s16 = nn.Sequential(*dws(64, 96, 2), *dws(96, 96), *dws(96, 96))
        self.s32 = nn.Sequential(*dws(96, 128, 2), *dws(128, 128), *dws(128, 128))
        self.u16 = nn.Sequential(CBR(128 + 96, 64), *dws(64, 64))
        self.u8 = nn.Sequential(CBR(64 + 64, 32), *dws(32, 32))
        self.u4 = nn.Sequential(CBR(32 + 32, 24), *dws(24, 24))
        self.hm = nn.Conv2d(24, 1, 1)
        self.reg = nn.Conv2d(24, 8, 1)
        nn.init.constant_(self.hm.bias, -2.19)  # prior 0.1: stable focal loss start

    def forward(self, x):
        """Returns the raw heatmap logits (N,1,H/4,W/4) and corners (N,8,..)."""
        f4 = self.s4(self.s2(x))
        f8 = self.s8(f4)
        f16 = self.s16(f8)
        f32 = self.s32(f16)
        up = lambda t: F.interpolate(t, scale_factor=2, mode="nearest")
        u = self.u16(torch.cat([up(f32), f16], 1))
        u = self.u8(torch.cat([up(u), f8], 1))
        u = self.u4(torch.cat([up(u), f4], 1))
        return self.hm(u), self.reg(u)


def count_macs(model, h, w):
    """Multiply-adds of one forward pass at h x w (convolutions only)."""
    total = [0]

    def hook(m, inp, out):
        k = m.kernel_size[0] * m.kernel_size[1] * (m.in_channels // m.groups)
        total[0] += out.numel() * k

    hs = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, nn.Conv2d)]
    was = model.training
    model.eval()
    with torch.no_grad():
        model(torch.zeros(1, 1, h, w))
    model.train(was)
    for x in hs:
        x.remove()
    return total[0]


def focal_loss(logits, target):
    """CenterNet's penalty-reduced focal loss, normalised by the plate count."""
    p = torch.sigmoid(logits).clamp(1e-4, 1 - 1e-4)
    pos = target.eq(1).float()
    neg = 1 - pos
    pos_l = torch.log(p) * (1 - p) ** 2 * pos
    neg_l = torch.log(1 - p) * p ** 2 * (1 - target) ** 4 * neg
    n = pos.sum().clamp(min=1)
    return -(pos_l.sum() + neg_l.sum()) / n


def corner_loss(reg, target, weight):
    """L1 on the corner offsets, weighted near each plate centre."""
    w = weight.unsqueeze(1)
    return (F.smooth_l1_loss(reg, target, reduction="none", beta=0.05) * w).sum() / (w.sum() * 8).clamp(min=1)


def export(model, path, in_h=288, in_w=512):
    """Writes the eval-mode model as a kind-2 nn file with folded BN."""
    model.eval()
    layers = []

    def seq(s, first_inputs):
        idx = None
        for i, m in enumerate(s):
            ins = first_inputs if i == 0 else [len(layers)]
            layers.append(nnfile.conv_layer(m.conv, m.bn, "relu", ins))
            idx = len(layers)
        return idx

    a = seq(model.s2, [0])
    f4 = seq(model.s4, [a])
    f8 = seq(model.s8, [f4])
    f16 = seq(model.s16, [f8])
    f32 = seq(model.s32, [f16])
    prev = f32
    for dec, skip in ((model.u16, f16), (model.u8, f8), (model.u4, f4)):
        layers.append({"op": "upsample", "inputs": [prev], "params": [2]})
        layers.append({"op": "concat", "inputs": [len(layers), skip]})
        prev = seq(dec, [len(layers)])
    layers.append(nnfile.conv_layer(model.hm, None, "sigmoid", [prev]))
    hm = len(layers)
    layers.append(nnfile.conv_layer(model.reg, None, "none", [prev]))
    layers.append({"op": "concat", "inputs": [hm, len(layers)]})
    meta = {"name": "anpr-detector-1", "stride": STRIDE, "corner_scale": "%g" % CORNER_SCALE,
            "align": ALIGN, "max_side": MAX_SIDE, "heads": HEADS}
    nnfile.write(path, "detector", (1, in_h, in_w), meta, layers)


def check_export(model, path, h=288, w=512):
    """Max abs difference between the model and its exported file."""
    model.eval()
    x = torch.rand(1, 1, h, w)
    with torch.no_grad():
        hm, reg = model(x)
        ref = torch.cat([torch.sigmoid(hm), reg], 1)
        got = nnrun.run(path, x)
    return float((ref - got).abs().max())


if __name__ == "__main__":
    m = Detector()
    print("params %d" % sum(p.numel() for p in m.parameters()))
    print("MACs at 512x288: %.1f M" % (count_macs(m, 288, 512) / 1e6))

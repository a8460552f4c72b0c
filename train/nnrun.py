"""An nn weight file in torch: run it, or start a model's training from it.

run() interprets a file with torch ops; it is the reference an export is
checked against. init_from() loads a shipped file into its torch model, so
that a fine-tune can start from the weights in models/ when the training
checkpoint that made them is gone.
"""
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

import nnfile

ACTS = {0: lambda t: t, 1: F.relu, 2: torch.sigmoid}


def run(path, x):
    """The output of the file's graph for x, a (N, C, H, W) tensor."""
    outs = [x]
    for i, (op, ins, ps, ws) in enumerate(nnfile.read(path), start=1):
        if any(k < 0 or k >= i for k in ins):
            raise ValueError("layer %d: input not an earlier layer" % i)
        t = [outs[k] for k in ins]
        if op == 1:
            w, b = (torch.from_numpy(a) for a in ws)
            y = ACTS[ps[8]](F.conv2d(t[0], w, b, (ps[3], ps[4]), (ps[5], ps[6]), 1, ps[7]))
        elif op == 2:
            y = F.max_pool2d(t[0], (ps[0], ps[1]), (ps[2], ps[3]), (ps[4], ps[5]))
        elif op == 4:
            y = F.interpolate(t[0], scale_factor=ps[0], mode="nearest")
        elif op == 5:
            y = torch.cat(t, 1)
        else:
            raise ValueError("layer %d: op %d not supported here" % (i, op))
        outs.append(y)
    return outs[-1]


def conv_pairs(model):
    """(conv, its BatchNorm or None) in module order, which is the order
    both networks' exports write their convolutions in."""
    pairs = []
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            pairs.append([m, None])
        elif isinstance(m, nn.BatchNorm2d):
            if not pairs or pairs[-1][1] is not None:
                raise ValueError("a BatchNorm2d that follows no convolution")
            pairs[-1][1] = m
    return pairs


@torch.no_grad()
def init_from(model, path, calib):
    """Loads the folded weights of `path` into `model`, and unfolds each
    BatchNorm so that training starts where the file is: the convolution
    keeps the folded weights, and its BatchNorm gets the mean and deviation
    its input has on `calib` (a batch of training inputs) as running
    statistics, with a scale and shift that undo them. The eval-mode model
    then computes the file exactly, and batch statistics in training mode
    start close to the running ones. Returns the largest difference
    between the model and the file on `calib`."""
    convs = [(ps, ws) for op, _, ps, ws in nnfile.read(path) if op == 1]
    pairs = conv_pairs(model)
    if len(convs) != len(pairs):
        raise ValueError("%s: %d convolutions, the model has %d" % (path, len(convs), len(pairs)))
    bias = []
    for (conv, bn), (ps, (w, b)) in zip(pairs, convs):
        if tuple(conv.weight.shape) != w.shape:
            raise ValueError("%s: weight %s, the model wants %s" % (path, w.shape, tuple(conv.weight.shape)))
        conv.weight.copy_(torch.from_numpy(w))
        if bn is None:
            conv.bias.copy_(torch.from_numpy(b))
        else:
            bn.reset_parameters()
            bn.running_var.fill_(1 - bn.eps)  # an identity until calibrated
            bn.bias.copy_(torch.from_numpy(b))
            bias.append(b)
    stats, hooks = {}, []
    for conv, bn in pairs:
        if bn is not None:
            hooks.append(bn.register_forward_hook(
                lambda m, inp, out: stats.__setitem__(m, (inp[0].mean((0, 2, 3)), inp[0].var((0, 2, 3))))))
    model.eval()
    want = run(path, calib)
    model(calib)
    for h in hooks:
        h.remove()
    for conv, bn in pairs:
        if bn is not None:
            mu, var = stats[bn]
            bn.running_mean.copy_(mu)
            bn.running_var.copy_(var)
            bn.weight.copy_(torch.sqrt(var + bn.eps))
            bn.bias.add_(mu)
    got = model(calib)
    got = torch.cat([torch.sigmoid(got[0]), got[1]], 1) if isinstance(got, tuple) else got.reshape(want.shape)
    model.train()
    return float((got - want).abs().max())

"""Write and read anpr's nn weight file (docs/nnfile.md), version 1."""
import struct, zlib
import numpy as np

MAGIC = b"ANPRNNW\0"
OPS = {"conv2d": 1, "maxpool": 2, "avgpool": 3, "upsample": 4, "concat": 5, "add": 6, "act": 7}
ACT = {None: 0, "none": 0, "relu": 1, "sigmoid": 2}


def write(path, kind, in_shape, meta, layers):
    """layers: list of dicts {op, inputs, params, weights}; op names per OPS.
    An input of -1 means the layer before (as conv_layer's default)."""
    kinds = {"recogniser": 1, "detector": 2, "refiner": 3}
    b = bytearray(MAGIC)
    b += struct.pack("<5I", 1, kinds[kind], *in_shape)
    m = "".join(f"{k}={v}\n" for k, v in meta.items()).encode()
    b += struct.pack("<I", len(m)) + m
    b += struct.pack("<I", len(layers))
    for i, L in enumerate(layers, start=1):
        b += struct.pack("<I", OPS[L["op"]])
        ins = [i - 1 if x == -1 else x for x in L["inputs"]]  # -1: the previous layer
        b += struct.pack("<I", len(ins)) + struct.pack(f"<{len(ins)}i", *ins)
        ps = [int(p) for p in L.get("params", [])]
        b += struct.pack("<I", len(ps)) + struct.pack(f"<{len(ps)}i", *ps)
        ws = L.get("weights", [])
        b += struct.pack("<I", len(ws))
        for w in ws:
            w = np.ascontiguousarray(w, dtype="<f4")
            b += struct.pack("<I", w.ndim) + struct.pack(f"<{w.ndim}I", *w.shape)
            b += w.tobytes()
    b += struct.pack("<I", zlib.crc32(bytes(b)) & 0xFFFFFFFF)
    with open(path, "wb") as f:
        f.write(b)


def read(path):
    """The layers of a weight file as (op, inputs, params, weights), the
    weights numpy float32 arrays; refuses a file whose magic, version or
    CRC is wrong."""
    b = open(path, "rb").read()
    if b[:8] != MAGIC or len(b) < 40 or struct.unpack_from("<I", b, 8)[0] != 1:
        raise ValueError(f"{path}: not a version-1 nn weight file")
    if zlib.crc32(b[:-4]) & 0xFFFFFFFF != struct.unpack_from("<I", b, len(b) - 4)[0]:
        raise ValueError(f"{path}: CRC mismatch")
    o = 8 + 4 * 5
    (mlen,) = struct.unpack_from("<I", b, o)
    o += 4 + mlen
    (n,) = struct.unpack_from("<I", b, o)
    o += 4
    layers = []
    for _ in range(n):
        op, nin = struct.unpack_from("<2I", b, o)
        ins = struct.unpack_from(f"<{nin}i", b, o + 8)
        o += 8 + 4 * nin
        (np_,) = struct.unpack_from("<I", b, o)
        ps = struct.unpack_from(f"<{np_}i", b, o + 4)
        o += 4 + 4 * np_
        (nw,) = struct.unpack_from("<I", b, o)
        o += 4
        ws = []
        for _ in range(nw):
            (nd,) = struct.unpack_from("<I", b, o)
            dims = struct.unpack_from(f"<{nd}I", b, o + 4)
            o += 4 + 4 * nd
            w = np.frombuffer(b, "<f4", int(np.prod(dims)), o).reshape(dims)
            ws.append(w.astype(np.float32))
            o += 4 * w.size
        layers.append((op, ins, ps, ws))
    return layers


def fold_bn(conv, bn):
    """Return (W, b) of a Conv2d followed by eval-mode BatchNorm2d."""
    W = conv.weight.detach().double().numpy()
    b = conv.bias.detach().double().numpy() if conv.bias is not None else np.zeros(W.shape[0])
    if bn is not None:
        g = bn.weight.detach().double().numpy()
        be = bn.bias.detach().double().numpy()
        mu = bn.running_mean.double().numpy()
        var = bn.running_var.double().numpy()
        s = g / np.sqrt(var + bn.eps)
        W = W * s[:, None, None, None]
        b = (b - mu) * s + be
    return W.astype(np.float32), b.astype(np.float32)


def conv_layer(conv, bn=None, act="relu", inputs=(-1,)):
    # The format has no dilation, padding modes or string paddings: refuse
    # them here rather than export a network that computes something else.
    if tuple(conv.dilation) != (1, 1) or conv.padding_mode != "zeros" or isinstance(conv.padding, str):
        raise ValueError(f"conv_layer: unsupported {conv}")
    W, b = fold_bn(conv, bn)
    kh, kw = conv.kernel_size
    sh, sw = conv.stride
    ph, pw = conv.padding
    return {"op": "conv2d", "inputs": list(inputs),
            "params": [conv.out_channels, kh, kw, sh, sw, ph, pw, conv.groups, ACT[act]],
            "weights": [W, b]}


def resolve_inputs(layers):
    """Turn relative input -1 (the previous layer) into absolute indices."""
    for i, L in enumerate(layers, start=1):
        L["inputs"] = [i - 1 if x == -1 else x for x in L["inputs"]]
    return layers

"""A tiny ONNX interpreter (standard library only): a protobuf reader for the ModelProto fields an
inference needs, and the float32 operators of small recurrent networks such as the CfC demo models
(Slice, Concat, Gemm, MatMul, Split, Tanh, Sigmoid, Relu, Add, Sub, Mul). A model using any other
operator is refused when it is loaded, never run wrongly.
"""

import math
import struct
from operator import mul


class OnnxError(Exception):
    pass


# -- protobuf wire format ---------------------------------------------------------------------


def _varint(buf, i):
    out, shift = 0, 0
    while True:
        b = buf[i]
        i += 1
        out |= (b & 0x7F) << shift
        if not b & 0x80:
            return out, i
        shift += 7


def _fields(buf):
    """(field number, wire type, value) of a message: value is an int or bytes."""
    i, n = 0, len(buf)
    while i < n:
        key, i = _varint(buf, i)
        field, wire = key >> 3, key & 7
        if wire == 0:
            value, i = _varint(buf, i)
        elif wire == 1:
            value, i = buf[i : i + 8], i + 8
        elif wire == 2:
            length, i = _varint(buf, i)
            value, i = buf[i : i + length], i + length
        elif wire == 5:
            value, i = buf[i : i + 4], i + 4
        else:
            raise OnnxError("unsupported protobuf wire type %d" % wire)
        yield field, wire, value


def _ints(wire, value):
    """A repeated int64 field, packed or not (negative values are 64-bit two's complement)."""
    raw = [value] if wire == 0 else []
    if wire == 2:
        i = 0
        while i < len(value):
            v, i = _varint(value, i)
            raw.append(v)
    return [v - (1 << 64) if v >= 1 << 63 else v for v in raw]


def _tensor(buf):
    dims, dtype, name, raw, floats, int64s = [], 1, "", None, [], []
    for f, w, v in _fields(buf):
        if f == 1:
            dims += _ints(w, v)
        elif f == 2:
            dtype = v
        elif f == 4:
            floats += list(struct.unpack("<%df" % (len(v) // 4), v)) if w == 2 else list(struct.unpack("<f", v))
        elif f == 7:
            int64s += _ints(w, v)
        elif f == 8:
            name = v.decode()
        elif f == 9:
            raw = v
    if raw is not None:
        if dtype == 1:
            data = list(struct.unpack("<%df" % (len(raw) // 4), raw))
        elif dtype == 7:
            data = list(struct.unpack("<%dq" % (len(raw) // 8), raw))
        else:
            raise OnnxError("tensor %s: element type %d is not supported" % (name, dtype))
    else:
        data = floats if dtype == 1 else int64s
    return name, (list(dims), data)


def _attribute(buf):
    name, value = "", None
    for f, w, v in _fields(buf):
        if f == 1:
            name = v.decode()
        elif f == 2:
            value = struct.unpack("<f", v)[0]
        elif f == 3:
            value = _ints(0, v)[0]
        elif f == 8:
            value = (value or []) + _ints(w, v)
    return name, value


def _node(buf):
    node = {"inputs": [], "outputs": [], "op": "", "attrs": {}}
    for f, _, v in _fields(buf):
        if f == 1:
            node["inputs"].append(v.decode())
        elif f == 2:
            node["outputs"].append(v.decode())
        elif f == 4:
            node["op"] = v.decode()
        elif f == 5:
            k, a = _attribute(v)
            node["attrs"][k] = a
    return node


# -- operators on (shape, flat list) -------------------------------------------------------------


def _rows(t):
    shape, data = t
    if len(shape) == 1:
        return 1, shape[0]
    if len(shape) == 2:
        return shape[0], shape[1]
    raise OnnxError("only 1-D and 2-D tensors are supported, not %s" % shape)


def _elementwise(fn):
    def op(a, b):
        (sa, da), (sb, db) = a, b
        if len(da) == len(db):
            return (sa if len(sa) >= len(sb) else sb, [fn(x, y) for x, y in zip(da, db)])
        if len(db) == 1:
            y = db[0]
            return (sa, [fn(x, y) for x in da])
        if len(da) == 1:
            x = da[0]
            return (sb, [fn(x, y) for y in db])
        if len(da) % len(db) == 0:  # trailing-dimension broadcast, e.g. [R, C] with [C]
            return (sa, [fn(x, db[i % len(db)]) for i, x in enumerate(da)])
        raise OnnxError("cannot broadcast %s with %s" % (sa, sb))

    return op


def _sigmoid(v):
    return 1.0 / (1.0 + math.exp(-v)) if v >= 0 else math.exp(v) / (1.0 + math.exp(v))


class Model:
    """A loaded ONNX model: `run(values)` takes the flat input and returns the flat output."""

    def __init__(self, data):
        graph = None
        for f, _, v in _fields(data):
            if f == 7:
                graph = v
        if graph is None:
            raise OnnxError("no graph")
        self.nodes, self.consts, inputs, outputs = [], {}, [], []
        for f, _, v in _fields(graph):
            if f == 1:
                self.nodes.append(_node(v))
            elif f == 5:
                name, t = _tensor(v)
                self.consts[name] = t
            elif f in (11, 12):
                name = next((x.decode() for k, _, x in _fields(v) if k == 1), "")
                (inputs if f == 11 else outputs).append(name)
        free = [n for n in inputs if n not in self.consts]
        if len(free) != 1 or len(outputs) != 1:
            raise OnnxError("one input and one output are supported")
        self.input, self.output = free[0], outputs[0]
        self._columns = {}
        for node in self.nodes:
            if node["op"] not in _OPS:
                raise OnnxError("operator %s is not supported by this device" % node["op"])
            # A constant right-hand matrix is kept by columns: each output is one dot product.
            if node["op"] in ("Gemm", "MatMul") and node["inputs"][1] in self.consts:
                name = node["inputs"][1]
                trans = node["op"] == "Gemm" and node["attrs"].get("transB", 0) == 1
                self._columns[name] = _columns(self.consts[name], trans)

    def run(self, values):
        env = dict(self.consts)
        env[self.input] = ([1, len(values)], list(values))
        for node in self.nodes:
            args = [env[n] if n else None for n in node["inputs"]]
            out = _OPS[node["op"]](self, node, args)
            for name, t in zip(node["outputs"], out if isinstance(out, list) else [out]):
                env[name] = t
        return env[self.output][1]


def _columns(t, transposed):
    k, n = _rows(t)
    data = t[1]
    if transposed:
        return [tuple(data[j * n : (j + 1) * n]) for j in range(k)]
    return [tuple(data[i * n + j] for i in range(k)) for j in range(n)]


def _matmul(model, a, b_name, b):
    rows, k = _rows(a)
    cols = model._columns.get(b_name) or _columns(b, False)
    out = []
    for r in range(rows):
        row = a[1][r * k : (r + 1) * k]
        out += [sum(map(mul, row, c)) for c in cols]
    return [rows, len(cols)], out


def _gemm(model, node, args):
    a, b = args[0], args[1]
    if node["attrs"].get("transA", 0):
        raise OnnxError("Gemm transA is not supported")
    alpha, beta = node["attrs"].get("alpha", 1.0), node["attrs"].get("beta", 1.0)
    shape, y = _matmul(model, a, node["inputs"][1], b)
    if alpha != 1.0:
        y = [alpha * v for v in y]
    if len(args) > 2 and args[2] is not None:
        c = args[2][1]
        y = [v + beta * c[i % len(c)] for i, v in enumerate(y)]
    return (shape, y)


def _slice(model, node, args):
    data, starts, ends = args[0], args[1][1], args[2][1]
    axes = args[3][1] if len(args) > 3 and args[3] is not None else list(range(len(starts)))
    rows, cols = _rows(data)
    r0, r1, c0, c1 = 0, rows, 0, cols
    for s, e, ax in zip(starts, ends, axes):
        size = rows if ax in (0, -2) and len(data[0]) == 2 else cols
        s, e = max(0, s + size if s < 0 else s), min(size, e + size if e < 0 else e)
        if ax in (1, -1) or len(data[0]) == 1:
            c0, c1 = s, e
        else:
            r0, r1 = s, e
    out = []
    for r in range(r0, r1):
        out += data[1][r * cols + c0 : r * cols + c1]
    return ([r1 - r0, c1 - c0] if len(data[0]) == 2 else [c1 - c0], out)


def _concat(model, node, args):
    if node["attrs"].get("axis", 0) not in (1, -1):
        raise OnnxError("Concat is supported on the last axis only")
    rows = _rows(args[0])[0]
    out, width = [], 0
    for r in range(rows):
        for t in args:
            n = _rows(t)[1]
            out += t[1][r * n : (r + 1) * n]
    width = sum(_rows(t)[1] for t in args)
    return ([rows, width], out)


def _split(model, node, args):
    if node["attrs"].get("axis", 0) not in (1, -1):
        raise OnnxError("Split is supported on the last axis only")
    rows, cols = _rows(args[0])
    sizes = args[1][1] if len(args) > 1 and args[1] is not None else node["attrs"].get("split")
    if sizes is None:
        sizes = [cols // len(node["outputs"])] * len(node["outputs"])
    outs, at = [], 0
    for size in sizes:
        out = []
        for r in range(rows):
            out += args[0][1][r * cols + at : r * cols + at + size]
        outs.append(([rows, size], out))
        at += size
    return outs


def _unary(fn):
    return lambda model, node, args: (args[0][0], [fn(v) for v in args[0][1]])


def _binary(fn):
    op = _elementwise(fn)
    return lambda model, node, args: op(args[0], args[1])


_OPS = {
    "Slice": _slice,
    "Concat": _concat,
    "Gemm": _gemm,
    "MatMul": lambda model, node, args: _matmul(model, args[0], node["inputs"][1], args[1]),
    "Split": _split,
    "Tanh": _unary(math.tanh),
    "Sigmoid": _unary(_sigmoid),
    "Relu": _unary(lambda v: v if v > 0 else 0.0),
    "Add": _binary(lambda x, y: x + y),
    "Sub": _binary(lambda x, y: x - y),
    "Mul": _binary(lambda x, y: x * y),
}

"""Layer specs: what each ``model.layers`` entry declares, the one shape function, the builder.

``LAYERS`` maps each ``type`` a config may name to a small spec class. For a validated spec
(a mapping: ``type`` plus the class's options) and the shape of one example entering it,
``(d,)`` for features or ``(C, H, W)`` for images (NCHW, batch first, as PyTorch), a class gives

- ``output_shape(spec, shape)``: the shape of one example leaving it, or a :class:`ShapeError`
  saying why it cannot take that input. Sizes may be None (not known before the data is
  read); the arithmetic then carries None along and checks only what it can.
- ``parameter_shapes(spec, shape)``: ``{suffix: shape}`` of its learned parameters, named
  ``<i>.<suffix>`` in the network (``0.W``, ``0.b``, ``1.alpha``).
- ``build(spec, shape, ...)``: the engine layers of its block (e.g. Conv2d → ReLU → Dropout).

:func:`infer_shapes` walks a whole list; validation, ``config show``, ``explain`` and the
network builder all call it, so the size arithmetic below exists once. For a window of size
k with dilation d, stride s and padding p_lo + p_hi along an axis of size n (PyTorch's
formula, floor division):

    out = (n + p_lo + p_hi - d·(k - 1) - 1) // s + 1
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..registry import Registry
from ..schema import Option
from .activations import ACTIVATIONS
from .initializers import INITIALIZERS, resolve
from .layers import Dense, Dropout, GatedDense, Layer, Maxout
from .parameter import Parameter

Shape = tuple  # of ints, or None where a size is not known yet


class ShapeError(ValueError):
    """A layer that cannot take its input; ``key`` is the spec's option at fault (or None)."""

    def __init__(self, key: str | None, message: str):
        super().__init__(message)
        self.key, self.message = key, message


class LayerShapeError(ShapeError):
    """A :class:`ShapeError` located at layer ``index`` of the list."""

    def __init__(self, index: int, key: str | None, message: str):
        super().__init__(key, message)
        self.index = index


def named(spec) -> tuple[str, dict]:
    """A component spec as (name, options): 'tanh' or {name: leaky_relu, slope: 0.2}."""
    if isinstance(spec, str):
        return spec, {}
    spec = dict(spec)
    return spec.pop("name"), spec


def show(shape: Shape) -> str:
    """'1×28×28', '120', '?×?×?' for sizes not known yet."""
    return "×".join("?" if s is None else str(s) for s in shape)


def pair(value, key: str) -> tuple[int, int]:
    """An int or a list of two ints as (along H, along W)."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value, value
    if isinstance(value, (list, tuple)) and len(value) == 2 and all(
            isinstance(v, int) and not isinstance(v, bool) for v in value):
        return int(value[0]), int(value[1])
    raise ShapeError(key, f"must be an integer or a list of two integers [along H, along W], "
                          f"got {value!r}")


def window_out(n: int | None, k: int, s: int, pad: int, d: int = 1) -> int | None:
    """Output size along one axis (formula in the module docstring); None when n is."""
    return None if n is None else (n + pad - d * (k - 1) - 1) // s + 1


def same_padding(n: int | None, k: int, s: int, d: int) -> tuple[int, int] | None:
    """'same' padding along one axis, as TensorFlow and Keras (PyTorch's for stride 1):
    out = ceil(n / s), pad = max((out - 1)·s + d·(k - 1) + 1 - n, 0), the odd pixel after."""
    if n is None:
        return None
    total = max((math.ceil(n / s) - 1) * s + d * (k - 1) + 1 - n, 0)
    return total // 2, total - total // 2


def _images(shape: Shape, what: str) -> None:
    if len(shape) != 3:
        raise ShapeError(None, f"{what} takes images (C×H×W), but its input is {show(shape)} "
                               "features; image layers come first, before any flatten or dense layer")


def _features(shape: Shape, what: str) -> None:
    if len(shape) != 1:
        raise ShapeError(None, f"{what} takes a vector of features, but its input is feature maps "
                               f"{show(shape)}; add {{type: flatten}} (or global_avgpool) before it")


def _positive(spec, key: str, default=None) -> tuple[int, int]:
    value = spec.get(key, default)
    p = pair(value, key)
    if min(p) < 1:
        raise ShapeError(key, f"must be at least 1, got {value!r}")
    return p


def _activation(spec) -> tuple[str, dict]:
    return named(spec.get("activation", "identity"))


def _activation_parameters(spec, units: int | None) -> dict:
    name, opts = _activation(spec)
    if name != "prelu":
        return {}
    return {"alpha": (1,) if opts.get("shared") else (units,)}


def _unit(spec, units: int, dtype, prefix: str, dropout_rng, channels: bool = False) -> Layer:
    """An activation (or gate) from its config spec, its parameters made; a unit that draws
    random numbers in training (rrelu) gets the dropout stream, as dropout layers do."""
    name, opts = named(spec)
    unit = ACTIVATIONS.get(name)(**opts)
    if channels and hasattr(unit, "channels"):
        unit.channels = True
    if hasattr(unit, "rng"):
        unit.rng = dropout_rng
    unit.init_parameters(units, dtype, prefix)
    return unit


def _finish_block(block: list[Layer], spec, units: int, dtype, prefix: str, dropout_rng,
                  channels: bool = False) -> list[Layer]:
    """Append the spec's activation (and dropout) to a block whose first layer is built."""
    block.append(_unit(spec.get("activation", "identity"), units, dtype, prefix, dropout_rng,
                       channels))
    if spec.get("dropout", 0.0):
        block.append(Dropout(float(spec["dropout"]), dropout_rng))
    return block


def _bias(spec, suffix: str, shape) -> dict:
    """{suffix: shape} of a bias, or {} for a layer with ``bias: false``."""
    return {suffix: shape} if spec.get("bias", True) else {}


def _bias_parameter(spec, name: str, size: int, dtype) -> Parameter | None:
    """A bias of zeros (not decayed), or None for a layer with ``bias: false``: no b at all."""
    if not spec.get("bias", True):
        return None
    return Parameter(name, np.zeros(size, dtype=dtype), decay=False)


class LayerSpec:
    """Base of the spec classes; ``takes`` is 'features' or 'images'."""

    doc = ""
    takes = "features"
    options: dict[str, Option] = {}

    @classmethod
    def problems(cls, spec) -> list[tuple[str, str]]:
        """(option, message) for option values that are wrong whatever the input shape."""
        return []

    @classmethod
    def output_shape(cls, spec, shape: Shape) -> Shape:
        raise NotImplementedError

    @classmethod
    def parameter_shapes(cls, spec, shape: Shape) -> dict[str, Shape]:
        return {}

    @classmethod
    def build(cls, spec, shape: Shape, prefix: str, dtype, init_rng, dropout_rng) -> list[Layer]:
        raise NotImplementedError


class DenseSpec(LayerSpec):
    doc = "fully connected: net = x W + b, then the activation"

    @classmethod
    def output_shape(cls, spec, shape):
        _features(shape, spec.get("type", "dense"))
        return (int(spec["units"]),)

    @classmethod
    def parameter_shapes(cls, spec, shape):
        units = int(spec["units"])
        out = {"W": (shape[0], units), **_bias(spec, "b", (units,))}
        if spec.get("type") == "gated":
            out.update({"W_gate": (shape[0], units), **_bias(spec, "b_gate", (units,))})
            gate, opts = named(spec.get("gate", "sigmoid"))
            if gate == "prelu":
                out["gate_alpha"] = (1,) if opts.get("shared") else (units,)
        return {**out, **_activation_parameters(spec, units)}

    @classmethod
    def build(cls, spec, shape, prefix, dtype, init_rng, dropout_rng):
        fan_in, units = shape[0], int(spec["units"])
        init_name, init_opts = named(spec.get("init", "auto"))
        init = INITIALIZERS.get(resolve(init_name, _activation(spec)[0]))(**init_opts)

        def weight(suffix):
            return Parameter(f"{prefix}{suffix}", init((fan_in, units), init_rng, dtype))

        def bias(suffix):
            return _bias_parameter(spec, f"{prefix}{suffix}", units, dtype)

        if spec.get("type", "dense") == "gated":
            gate = _unit(spec.get("gate", "sigmoid"), units, dtype, f"{prefix}gate_", dropout_rng)
            block: list[Layer] = [GatedDense(weight("W"), bias("b"), weight("W_gate"),
                                             bias("b_gate"), gate)]
        else:
            block = [Dense(weight("W"), bias("b"))]
        return _finish_block(block, spec, units, dtype, prefix, dropout_rng)


class GatedSpec(DenseSpec):
    doc = "gated dense (a GLU): (x W + b) ⊙ gate(x W_gate + b_gate), then the activation"


class MaxoutSpec(LayerSpec):
    doc = ("maxout (Goodfellow et al. 2013): each of units outputs the max of pieces linear "
           "functions of x, max_p (x W + b)_jp; the max is the unit's activation")

    @classmethod
    def output_shape(cls, spec, shape):
        _features(shape, "maxout")
        return (int(spec["units"]),)

    @classmethod
    def parameter_shapes(cls, spec, shape):
        width = int(spec["units"]) * int(spec.get("pieces", 2))
        return {"W": (shape[0], width), **_bias(spec, "b", (width,))}

    @classmethod
    def build(cls, spec, shape, prefix, dtype, init_rng, dropout_rng):
        k = int(spec.get("pieces", 2))
        fan_in, width = shape[0], int(spec["units"]) * k
        init_name, init_opts = named(spec.get("init", "auto"))
        init = INITIALIZERS.get(resolve(init_name, "maxout"))(**init_opts)
        W = Parameter(f"{prefix}W", init((fan_in, width), init_rng, dtype))
        b = _bias_parameter(spec, f"{prefix}b", width, dtype)
        block: list[Layer] = [Maxout(W, b, k)]
        if spec.get("dropout", 0.0):
            block.append(Dropout(float(spec["dropout"]), dropout_rng))
        return block


class Conv2dSpec(LayerSpec):
    doc = ("2-D convolution over images (C×H×W): channels filters of kernel kh×kw, "
           "then the activation")
    takes = "images"

    @staticmethod
    def geometry(spec, shape) -> tuple:
        """(kernel, stride, dilation, ((top, bottom), (left, right))) of a spec on an input."""
        k, s, d = _positive(spec, "kernel"), _positive(spec, "stride", 1), _positive(spec, "dilation", 1)
        p = spec.get("padding", 0)
        if p == "valid":
            pads = ((0, 0), (0, 0))
        elif p == "same":
            pads = tuple(same_padding(n, ki, si, di) for n, ki, si, di in zip(shape[1:], k, s, d))
        else:
            ph, pw = pair(p, "padding")
            if min(ph, pw) < 0:
                raise ShapeError("padding", f"must be at least 0, 'valid' or 'same', got {p!r}")
            pads = ((ph, ph), (pw, pw))
        return k, s, d, pads

    @classmethod
    def problems(cls, spec):
        try:
            cls.geometry(spec, (None, None, None))
        except ShapeError as e:
            return [(e.key, e.message)]
        return []

    @classmethod
    def output_shape(cls, spec, shape):
        _images(shape, "conv2d")
        k, s, d, pads = cls.geometry(spec, shape)
        out = []
        for axis, n, ki, si, di, pad in zip("HW", shape[1:], k, s, d, pads):
            o = window_out(n, ki, si, 0 if pad is None else sum(pad), di)
            if o is not None and o < 1:
                eff = di * (ki - 1) + 1
                raise ShapeError("kernel", f"a {'x'.join(map(str, k))} kernel"
                                 + (f" (dilated to {eff} pixels)" if di > 1 else "")
                                 + f" does not fit the input {show(shape)} along {axis} "
                                   f"({n} pixels + padding {sum(pad)}): output size {o}")
            out.append(o)
        return (int(spec["channels"]), *out)

    @classmethod
    def parameter_shapes(cls, spec, shape):
        kh, kw = pair(spec["kernel"], "kernel")
        o = int(spec["channels"])
        return {"W": (o, shape[0], kh, kw), **_bias(spec, "b", (o,)), **_activation_parameters(spec, o)}

    @classmethod
    def build(cls, spec, shape, prefix, dtype, init_rng, dropout_rng):
        from .conv import Conv2d
        k, s, d, pads = cls.geometry(spec, shape)
        o, c = int(spec["channels"]), shape[0]
        init_name, init_opts = named(spec.get("init", "auto"))
        init = INITIALIZERS.get(resolve(init_name, _activation(spec)[0]))(**init_opts)
        area = k[0] * k[1]
        W = Parameter(f"{prefix}W", init((o, c, *k), init_rng, dtype, fans=(c * area, o * area)))
        b = _bias_parameter(spec, f"{prefix}b", o, dtype)
        block: list[Layer] = [Conv2d(W, b, stride=s, padding=pads, dilation=d)]
        return _finish_block(block, spec, o, dtype, prefix, dropout_rng, channels=True)


class PoolSpec(LayerSpec):
    takes = "images"
    kind = ""

    @staticmethod
    def geometry(spec) -> tuple:
        k = _positive(spec, "kernel")
        s = _positive(spec, "stride") if spec.get("stride") is not None else k
        p = pair(spec.get("padding", 0), "padding")
        for pi, ki in zip(p, k):
            if pi < 0 or 2 * pi > ki:
                raise ShapeError("padding", f"must be between 0 and half the kernel "
                                            f"({'x'.join(map(str, k))}), got {spec.get('padding')!r}")
        return k, s, p

    @classmethod
    def problems(cls, spec):
        try:
            cls.geometry(spec)
        except ShapeError as e:
            return [(e.key, e.message)]
        return []

    @classmethod
    def output_shape(cls, spec, shape):
        _images(shape, spec["type"])
        k, s, p = cls.geometry(spec)
        out = []
        for axis, n, ki, si, pi in zip("HW", shape[1:], k, s, p):
            o = window_out(n, ki, si, 2 * pi)
            if o is not None and o < 1:
                raise ShapeError("kernel", f"a {'x'.join(map(str, k))} pool does not fit the input "
                                           f"{show(shape)} along {axis} ({n} pixels + padding {2 * pi})")
            out.append(o)
        return (shape[0], *out)

    @classmethod
    def build(cls, spec, shape, prefix, dtype, init_rng, dropout_rng):
        from . import pooling
        k, s, p = cls.geometry(spec)
        return [getattr(pooling, cls.kind)(kernel=k, stride=s, padding=p)]


class MaxPool2dSpec(PoolSpec):
    doc = "max pooling: each output is the largest input of its kernel window (per channel)"
    kind = "MaxPool2d"


class AvgPool2dSpec(PoolSpec):
    doc = "average pooling: each output is the mean of its kernel window (zero padding counted)"
    kind = "AvgPool2d"


class FlattenSpec(LayerSpec):
    doc = "feature maps C×H×W to a vector of C·H·W features (C-order, as PyTorch's flatten)"
    takes = "images"

    @classmethod
    def output_shape(cls, spec, shape):
        return (None if None in shape else int(np.prod(shape)),)

    @classmethod
    def build(cls, spec, shape, prefix, dtype, init_rng, dropout_rng):
        from .pooling import Flatten
        return [Flatten()]


class GlobalAvgPoolSpec(LayerSpec):
    doc = "global average pooling: each channel's mean over H×W, a vector of C features"
    takes = "images"

    @classmethod
    def output_shape(cls, spec, shape):
        _images(shape, "global_avgpool")
        return (shape[0],)

    @classmethod
    def build(cls, spec, shape, prefix, dtype, init_rng, dropout_rng):
        from .pooling import GlobalAvgPool
        return [GlobalAvgPool()]


LAYERS = Registry("layer type", {
    "dense": DenseSpec, "gated": GatedSpec, "maxout": MaxoutSpec, "conv2d": Conv2dSpec,
    "maxpool2d": MaxPool2dSpec, "avgpool2d": AvgPool2dSpec, "flatten": FlattenSpec,
    "global_avgpool": GlobalAvgPoolSpec,
})


def spec_class(spec) -> type[LayerSpec]:
    return LAYERS.get(spec.get("type", "dense"))


def input_rank(layer_specs: list[dict]) -> int:
    """3 when the first layer takes images, else 1."""
    return 3 if spec_class(layer_specs[0]).takes == "images" and \
        layer_specs[0].get("type") != "flatten" else 1


def input_shape(layer_specs: list[dict], n_features: int, image_shape=None) -> Shape:
    """The shape of one example the network takes: the data's image shape (C, H, W) when the
    first layer takes images, else its n_features as (d,). Raises :class:`LayerShapeError`
    when the first layer takes images but the data has none."""
    if input_rank(layer_specs) == 1:
        return (int(n_features),)
    if image_shape is None or len(image_shape) != 3:
        t = layer_specs[0]["type"]
        raise LayerShapeError(0, "type", f"{t} takes images (C×H×W), but the data has rows of "
                                         f"{n_features} features; set data.shape: [C, H, W] (their "
                                         f"product must be {n_features})")
    return tuple(int(s) for s in image_shape)


def infer_shapes(layer_specs: list[dict], input_shape: Shape | None) -> list[Shape]:
    """The output shape of every layer for examples of ``input_shape`` (None: not known, so
    sizes are None and only the ranks are checked). Raises :class:`LayerShapeError`."""
    shape = tuple(input_shape) if input_shape is not None else (None,) * input_rank(layer_specs)
    out = []
    for i, spec in enumerate(layer_specs):
        try:
            shape = spec_class(spec).output_shape(spec, shape)
        except ShapeError as e:
            raise LayerShapeError(i, e.key, e.message) from None
        out.append(shape)
    return out


def parameter_count(spec, shape: Shape) -> int | None:
    """How many numbers a layer learns on inputs of ``shape`` (None when not known yet)."""
    sizes = [math.prod(s) if None not in s else None
             for s in spec_class(spec).parameter_shapes(spec, shape).values()]
    return None if None in sizes else sum(sizes)


def summary(layer_specs: list[dict], input_shape: Shape | None) -> list[dict[str, Any]]:
    """One row per layer, as Keras's ``summary()``: index, type, description, output shape
    and parameter count (the first row is the input)."""
    shapes = infer_shapes(layer_specs, input_shape)
    ins = [tuple(input_shape) if input_shape is not None else (None,) * input_rank(layer_specs)]
    ins += shapes[:-1]
    rows = [{"index": None, "type": "input", "layer": "input", "output_shape": ins[0], "params": 0}]
    for i, (spec, shape_in, shape_out) in enumerate(zip(layer_specs, ins, shapes)):
        rows.append({"index": i, "type": spec.get("type", "dense"), "layer": describe(spec),
                     "output_shape": shape_out, "params": parameter_count(spec, shape_in)})
    return rows


def summary_cells(rows: list[dict]) -> tuple[list[tuple[str, str, str]], str]:
    """The rows of :func:`summary` as text cells (layer, output shape, parameters), and the
    total parameter count ('?' while a size is not known)."""
    cells = [(r["layer"] if r["index"] is None else f"{r['index']}  {r['layer']}",
              show(r["output_shape"]), "?" if r["params"] is None else f"{r['params']:,}")
             for r in rows]
    counts = [r["params"] for r in rows]
    return cells, "?" if None in counts else f"{sum(counts):,}"


def summary_lines(rows: list[dict]) -> list[str]:
    """The rows of :func:`summary` as aligned plain-text lines, with the total at the end."""
    cells, total = summary_cells(rows)
    cells = [("layer", "output shape", "parameters"), *cells]
    widths = [max(len(c[j]) for c in cells) for j in range(3)]
    lines = [f"{a.ljust(widths[0])}  {b.ljust(widths[1])}  {c.rjust(widths[2])}" for a, b, c in cells]
    return lines + [f"total: {total} parameters"]


def describe(spec) -> str:
    """A layer in a few words: 'conv2d 6@5x5 pad 2 relu', 'dense 120 tanh', 'maxpool2d 2x2'."""
    t = spec.get("type", "dense")
    act = _activation(spec)[0] if "activation" in spec else None
    if t in ("dense", "gated"):
        words = [t, str(spec["units"])]
    elif t == "maxout":
        words = [t, str(spec["units"]), f"pieces {spec.get('pieces', 2)}"]
    elif t == "conv2d":
        k = pair(spec["kernel"], "kernel")
        words = [t, f"{spec['channels']}@{k[0]}x{k[1]}"]
        for key, default in (("stride", 1), ("padding", 0), ("dilation", 1)):
            v = spec.get(key, default)
            if v != default and v != [default, default]:
                words.append(f"{key} {v if not isinstance(v, list) else 'x'.join(map(str, v))}")
    elif t in ("maxpool2d", "avgpool2d"):
        k = pair(spec["kernel"], "kernel")
        words = [t, f"{k[0]}x{k[1]}"]
        if spec.get("stride") is not None and pair(spec["stride"], "stride") != k:
            words.append(f"stride {spec['stride']}")
        if spec.get("padding", 0) not in (0, [0, 0]):
            words.append(f"padding {spec['padding']}")
    else:
        words = [t]
    if act and act != "identity":
        words.append(act)
    if spec.get("bias") is False:
        words.append("no bias")
    if spec.get("dropout"):
        words.append(f"dropout {spec['dropout']:g}")
    if spec.get("freeze"):
        words.append("frozen")
    return " ".join(words)


def build_blocks(layer_specs: list[dict], input_shape: Shape, dtype, init_rng,
                 dropout_rng) -> list[list[Layer]]:
    """The blocks (one per spec) for examples of ``input_shape``, parameters named <i>.<name>."""
    shapes = infer_shapes(layer_specs, input_shape)
    ins = [tuple(input_shape)] + shapes[:-1]
    return [spec_class(spec).build(spec, shape, f"{i}.", np.dtype(dtype), init_rng, dropout_rng)
            for i, (spec, shape) in enumerate(zip(layer_specs, ins))]

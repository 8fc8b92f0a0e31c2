"""One example's forward and backward pass, layer by layer, through the engine's own layers.

For each layer l (note 003, with rows as examples, so W is the transpose of the notes' W(l)):

    net = x·W + b            x = h(l-1), the layer's input (the example itself for l = 1)
    y   = f(net)             the activation
    dE/dy                    from the loss (output layer) or dE/dx of the layer above
    delta = f'(net) ⊙ dE/dy  (a Jacobian-vector product for softmax; o - y when fused)
    dE/dW = xᵀ·delta,  dE/db = delta,  dE/dx = delta·Wᵀ (handed to the layer below)

Convolutional layers (engine/conv.py) follow the same pattern with feature maps, x (C, H, W):

    net = W ∗ x + b          cross-correlation with the O filters W (O, C, kh, kw)
    dE/dW = Σ_ij delta ⋆ x,  dE/db = Σ_ij delta,  dE/dx = delta ∗ W flipped (the transposed conv)

and pooling and flatten layers pass dE/dy back to where their outputs came from. Each
layer's output shape is the one :func:`engine.blocks.infer_shapes` gives (the shape function
the network builder uses); for networks on images, feature maps are too big to read in full,
so each value is shown by :func:`summarize` (shape, min, mean, max, norm, share of zeros).

Every value comes from calling the layers' ``forward`` and ``backward``, so what is shown is
what training computes; the formulas come from the components' own docstrings.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np

from ..engine.activations import Activation
from ..engine.blocks import summary
from ..engine.conv import Conv2d
from ..engine.layers import Dense, Dropout
from ..errors import UsageError


@dataclass
class Step:
    name: str           # what is computed: 'net', 'dE/dW', ...
    formula: str        # how, as the notes write it
    value: np.ndarray


@dataclass
class LayerTrace:
    index: int          # position in model.layers (0-based)
    title: str
    forward: list[Step] = field(default_factory=list)
    backward: list[Step] = field(default_factory=list)
    output_shape: tuple | None = None  # of one example, from engine.blocks.infer_shapes
    params: int | None = None          # how many numbers the layer learns
    layer: str | None = None           # the spec in a few words: 'conv2d 8@3x3 padding 1 relu'


@dataclass
class Trace:
    example: int
    split: str
    x: np.ndarray
    target: np.ndarray
    output: np.ndarray
    loss: float
    loss_formula: str
    layers: list[LayerTrace]
    loss_steps: list[Step]
    weights: str        # where the weights came from
    gradients: dict[str, np.ndarray] = field(default_factory=dict)  # dE/d<parameter> by name
    input_shape: tuple | None = None  # one example's shape: (d,) or (C, H, W)
    rows: list[dict] | None = None    # engine.blocks.summary: the network's table of shapes

    @property
    def images(self) -> bool:
        """Whether the network takes images (its values are then shown summarized)."""
        return self.input_shape is not None and len(self.input_shape) == 3


def summarize(a: np.ndarray) -> dict:
    """An array in a few numbers: shape, min, mean, max, the Euclidean norm ‖a‖ and the
    share of exact zeros (dead relu units, pooled-away gradients), in float64 (+ 0.0 turns
    relu's -0.0 into 0)."""
    a = np.asarray(a)
    v = a.astype(np.float64, copy=False)
    return {"shape": list(a.shape), "min": float(v.min()) + 0.0, "mean": float(v.mean()) + 0.0,
            "max": float(v.max()) + 0.0, "norm": float(np.linalg.norm(v.ravel())),
            "zeros": float(np.count_nonzero(v == 0) / v.size)}


def summary_line(doc: str | None) -> str:
    """A component's docstring up to the end of its first sentence: its formula."""
    return re.split(r"\.(?:\s|$)", " ".join((doc or "").split()), maxsplit=1)[0]


def forward_backward_lines(doc: str | None) -> tuple[str, str | None]:
    """A layer's formula from its docstring's first sentence, split at 'Backward:' where the
    sentence runs on into the derivative (the pools): (forward, backward or None)."""
    line = summary_line(doc)
    forward, sep, backward = line.partition(" Backward: ")
    return forward, (backward or None) if sep else None


def trace(network, x: np.ndarray, target: np.ndarray, *, example: int = 0, split: str = "train",
          weights: str = "initial", layer_specs: list[dict] | None = None) -> Trace:
    """Forward and backward through ``network`` on one example x (1, d), target (1, K); an
    image arrives as a row (1, C·H·W), as the network takes it. With ``layer_specs`` (the
    config's ``model.layers``), each layer carries its output shape and parameter count."""
    if not network.differentiable:
        raise UsageError("explain: the network has units without a gradient (threshold); "
                         "backpropagation cannot go through them")
    blocks = network.blocks
    traces = [LayerTrace(i, " → ".join(map(repr, block))) for i, block in enumerate(blocks)]
    input_shape = network.input_shape
    rows = None
    if layer_specs is not None:
        rows = summary(layer_specs, input_shape)
        for lt, row in zip(traces, rows[1:]):
            lt.output_shape, lt.params, lt.layer = tuple(row["output_shape"]), row["params"], row["layer"]
    h = x.reshape((len(x), *input_shape)) if input_shape is not None and len(input_shape) == 3 else x
    for lt, block in zip(traces, blocks):
        for layer in block:
            h = _forward(layer, h, lt, layer is network.head)
    z = h if network.head is None else _last_net(traces)
    loss = float(network.loss.forward(z, target))
    dz = network.loss.backward()
    output = network.output_of(z)
    loss_doc = summary_line(type(network.loss).__doc__)
    loss_steps = [Step("E", loss_doc, np.array(loss))]
    up = dz
    grads: dict[str, np.ndarray] = {}
    for lt, block in zip(reversed(traces), reversed(blocks)):
        for layer in reversed(block):
            up = _backward(layer, up, lt, layer is network.head, network, loss_doc)
        for layer in block:
            for p in layer.parameters():
                grads[p.name] = p.grad.copy()
    return Trace(example, split, x, target, output, loss, loss_doc, traces, loss_steps, weights, grads,
                 input_shape=input_shape, rows=rows)


def _last_net(traces: list[LayerTrace]) -> np.ndarray:
    return next(s.value for s in reversed(traces[-1].forward) if s.name.startswith("net"))


def _forward(layer, h, lt: LayerTrace, is_head: bool) -> np.ndarray:
    if isinstance(layer, Dense):
        net = layer.forward(h)
        if layer.b is None:  # bias: false
            lt.forward += [Step("x", "h(l-1), the layer's input", h), Step("W", "weights", layer.W.value),
                           Step("net", "net = x·W (no bias)", net)]
            return net
        lt.forward += [Step("x", "h(l-1), the layer's input", h), Step("W", "weights", layer.W.value),
                       Step("b", "biases", layer.b.value), Step("net", "net = x·W + b", net)]
        return net
    if isinstance(layer, Conv2d):
        net = layer.forward(h)
        bias = layer.b is not None
        lt.forward += [Step("x", "h(l-1), the layer's input feature maps (C×H×W)", h),
                       Step("W", "filters (out channels, in channels, kh, kw)", layer.W.value)]
        if bias:
            lt.forward.append(Step("b", "biases, one per out channel", layer.b.value))
        lt.forward.append(Step("net", ("net = W ∗ x + b: net[o,i,j] = b[o] + " if bias else
                                       "net = W ∗ x (no bias): net[o,i,j] = ")
                               + "Σ_c,p,q W[o,c,p,q]·x[c, i+p, j+q] (cross-correlation; stride, "
                                 "padding and dilation as the layer says)", net))
        return net
    if isinstance(layer, Activation):
        y = layer.forward(h)
        doc = summary_line(type(layer).__doc__)
        name = type(layer).__name__.lower()
        note = " (the output head: the loss is fused with it)" if is_head else ""
        lt.forward.append(Step("y", f"y = {name}(net): {doc} (z = net){note}", y))
        return y
    if isinstance(layer, Dropout):
        y = layer.forward(h, training=False)
        lt.forward.append(Step("y", f"dropout({layer.rate:g}): identity when not training", y))
        return y
    y = layer.forward(h)
    lt.forward.append(Step("y", f"{layer!r}: {forward_backward_lines(type(layer).__doc__)[0]}", y))
    return y


def _backward(layer, up, lt: LayerTrace, is_head: bool, network, loss_doc: str) -> np.ndarray:
    last = lt.index == len(network.blocks) - 1
    if isinstance(layer, Dense):
        dx = layer.backward(up)
        lt.backward += [Step("dE/dW", "dE/dW = xᵀ·delta", layer.W.grad.copy())]
        if layer.b is not None:
            lt.backward.append(Step("dE/db", "dE/db = delta", layer.b.grad.copy()))
        lt.backward.append(Step("dE/dx", "dE/dx = delta·Wᵀ (dE/dy of the layer below)", dx))
        return dx
    if isinstance(layer, Conv2d):
        dx = layer.backward(up)
        lt.backward += [Step("dE/dW", "dE/dW[o,c,p,q] = Σ_i,j delta[o,i,j]·x[c, i+p, j+q] (delta ⋆ x)",
                             layer.W.grad.copy())]
        if layer.b is not None:
            lt.backward.append(Step("dE/db", "dE/db[o] = Σ_i,j delta[o,i,j]", layer.b.grad.copy()))
        lt.backward.append(Step("dE/dx", "dE/dx = delta ∗ W flipped, the transposed convolution "
                                         "(dE/dy of the layer below)", dx))
        return dx
    if is_head:
        lt.backward.append(Step("delta", f"delta = dE/dnet = o - y: {type(layer).__name__.lower()} "
                                         f"fused with the loss (see E)", up))
        return up
    source = "dE/do from the loss" if last and not lt.backward else "dE/dx of the layer above"
    if isinstance(layer, Activation):
        delta = layer.backward(up)
        if type(layer).__name__ == "Softmax":
            rule = "delta = y ⊙ (dE/dy - Σ_j dE/dy_j·y_j) (Jacobian-vector product)"
        else:
            rule = "delta = f'(net) ⊙ dE/dy"
        lt.backward += [Step("dE/dy", source, up), Step("delta", rule, delta)]
        for p in layer.parameters():
            lt.backward.append(Step(f"dE/d{p.name}", "sum of min(net, 0)·dE/dy", p.grad.copy()))
        return delta
    if isinstance(layer, Dropout):
        return layer.backward(up)
    dx = layer.backward(up)
    lt.backward.append(Step("dE/dy", source, up))
    for p in layer.parameters():
        lt.backward.append(Step(f"dE/d{p.name}", f"{layer!r}", p.grad.copy()))
    rule = forward_backward_lines(type(layer).__doc__)[1]
    lt.backward.append(Step("dE/dx", f"{rule} (dE/dy of the layer below)" if rule else
                            "dE/dx (dE/dy of the layer below)", dx))
    return dx


def explain_config(config, overrides=(), *, run_dir=None, example: int = 0) -> Trace:
    """Trace example ``example`` of the training split through the config's network, with
    the weights of ``run_dir``'s checkpoints/last.npz when given (else the initial weights)."""
    from pathlib import Path

    from .. import api
    from ..runs import load_run_setup
    if run_dir is not None:
        s = load_run_setup(Path(run_dir), config, overrides)
        weights = str(Path(run_dir) / "checkpoints" / "last.npz")
    else:
        s = api.setup(config, overrides)
        weights = "initial (seeded; give --run RUN_DIR for trained weights)"
    train = s.splits.train
    if not 0 <= example < len(train):
        raise UsageError(f"--example {example}: the training split has {len(train)} examples "
                         f"(0 to {len(train) - 1})")
    x, y = train.X[example:example + 1], train.Y[example:example + 1]
    return trace(s.network, x, y, example=example, split="train", weights=weights,
                 layer_specs=s.config.data["model"]["layers"])

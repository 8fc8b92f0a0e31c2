"""A feed-forward network: a sequence of layers, a loss, and the backward pass through both.

Forward (note 003): net(l) = h(l-1) W(l) + b(l), h(l) = g_l(net(l)), h(0) = x. Backward: the
loss hands dE/do to the last layer; each layer turns dE/dy into its parameters' gradients
and dE/dx for the layer below. When the loss fuses with the output activation (sigmoid+bce,
softmax+cross_entropy), that activation becomes the network's ``head``: training feeds the
logits to the fused loss, and ``predict`` applies the head.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from .activations import Activation
from .blocks import build_blocks, named
from .layers import Dropout, Layer
from .losses import FUSED, LOSSES, Loss
from .parameter import Parameter, flatten

__all__ = ["Network", "build_network", "named"]


class Network:
    def __init__(self, layers: list[Layer], loss: Loss, head: Activation | None = None,
                 blocks: list[list[Layer]] | None = None, input_shape: tuple | None = None):
        self.layers = layers
        #: the shape of one example, (d,) or (C, H, W); rows of images arrive flattened, (n, C·H·W),
        #: and ``forward`` views them as (n, C, H, W)
        self.input_shape = input_shape
        self._images = input_shape is not None and len(input_shape) > 1
        self.loss = loss
        self.head = head
        self.blocks = blocks or [[layer] for layer in layers]
        self._params = [p for layer in layers for p in layer.parameters()]
        self._trainable = [p for p in self._params if not p.frozen]
        # every value and gradient: a view of one of two 1-D arrays, the trainable parameters'
        # (what the optimizer updates in one call per operation), and the frozen ones' apart
        flatten(self._trainable)
        flatten([p for p in self._params if p.frozen])

    # -- forward and backward -------------------------------------------------------------
    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        """What the loss sees: the outputs, or the logits when the loss is fused."""
        if self._images:
            x = x.reshape((len(x), *self.input_shape))
        for layer in self.layers:
            x = layer.forward(x, training)
        return x

    def predict(self, x: np.ndarray) -> np.ndarray:
        """The network's outputs f(x) (probabilities after a fused sigmoid/softmax)."""
        z = self.forward(x, training=False)
        return self.head.forward(z) if self.head is not None else z

    def predict_dropout(self, x: np.ndarray, rng: np.random.Generator | None = None) -> np.ndarray:
        """One sample of MC dropout: the outputs f(x) with every dropout layer on (a fresh
        mask, scaled by 1/(1 - p) as in training) and every other layer as at evaluation (an
        rrelu at its mean slope). With ``rng``, the dropout layers draw from it from now on."""
        if self._images:
            x = x.reshape((len(x), *self.input_shape))
        for layer in self.layers:
            is_dropout = isinstance(layer, Dropout)
            if is_dropout and rng is not None:
                layer.rng = rng
            x = layer.forward(x, training=is_dropout)
        return self.output_of(x)

    def output_of(self, z: np.ndarray) -> np.ndarray:
        """Outputs from what ``forward`` returned (applies the head, if any)."""
        return self.head.forward(z) if self.head is not None else z

    def backward(self, dout: np.ndarray, input_grad: bool = True) -> np.ndarray | None:
        """Backpropagate dE/d(forward output); fills every Parameter.grad and returns dE/dx
        (None with ``input_grad=False``, which spares the first layer that product)."""
        first = self.layers[0]
        first.input_grad = input_grad
        try:
            for layer in reversed(self.layers):
                dout = layer.backward(dout)
        finally:
            first.input_grad = True
        return dout.reshape(len(dout), -1) if self._images and dout is not None else dout

    def train_step_gradients(self, x: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray]:
        """One forward and backward pass in training mode: (batch loss, forward output)."""
        z = self.forward(x, training=True)
        loss = self.loss.forward(z, y)
        self.backward(self.loss.backward(), input_grad=False)
        return loss, z

    def evaluate_loss(self, x, y) -> tuple[float, np.ndarray]:
        z = self.forward(x, training=False)
        return self.loss.forward(z, y), z

    # -- parameters -----------------------------------------------------------------------
    def parameters(self) -> list[Parameter]:
        return self._params

    def trainable_parameters(self) -> list[Parameter]:
        """The parameters training changes: all but those of frozen layers (``freeze: true``)."""
        return self._trainable

    def state_dict(self, into: dict[str, np.ndarray] | None = None) -> dict[str, np.ndarray]:
        """Copies of the parameters by name; ``into``: a previous result whose arrays are
        overwritten (no allocation) and returned."""
        if into is not None:
            for p in self._params:
                np.copyto(into[p.name], p.value)
            return into
        return {p.name: p.value.copy() for p in self._params}

    def load_state_dict(self, arrays: dict[str, np.ndarray], source: str = "weights") -> None:
        """Copy arrays into the parameters by name; every name and shape must match."""
        from ..errors import CheckpointError
        names = {p.name for p in self._params}
        missing = sorted(names - set(arrays))
        extra = sorted(set(arrays) - names)
        if missing or extra:
            raise CheckpointError(
                f"{source}: parameter names do not match the model: "
                + (f"missing {', '.join(missing)}" if missing else "")
                + ("; " if missing and extra else "")
                + (f"unexpected {', '.join(extra)}" if extra else "")
                + f" (expected {', '.join(p.name for p in self._params)})")
        for p in self._params:
            a = np.asarray(arrays[p.name])
            if a.shape != p.value.shape:
                raise CheckpointError(f"{source}: {p.name}: shape {a.shape} does not match the "
                                      f"model's {p.value.shape}")
            p.value[...] = a

    def load_layers(self, arrays: dict[str, np.ndarray], layers: list[int],
                    source: str = "weights") -> list[str]:
        """Copy the parameters of the layers at positions ``layers`` of the config's list
        (``<i>.W``, ``<i>.b``, ...) from ``arrays``, leaving every other parameter as it is;
        the arrays may hold other layers too. Returns the names copied. A listed layer whose
        parameters the arrays lack, or whose shapes differ, is a CheckpointError (nothing is
        copied then)."""
        from ..errors import CheckpointError
        chosen = []
        for i in layers:
            own = [p for p in self._params if p.name.split(".", 1)[0] == str(i)]
            if not own:
                raise CheckpointError(f"{source}: layer {i}: the model has no layer {i} with "
                                      "parameters to load")
            missing = [p.name for p in own if p.name not in arrays]
            if len(missing) == len(own):
                held = sorted({k.split(".", 1)[0] for k in arrays if "." in k}, key=_layer_order)
                raise CheckpointError(f"{source}: layer {i} is not in the file (it holds "
                                      + (f"layers {', '.join(held)})" if held else "no layer's weights)"))
            if missing:
                raise CheckpointError(f"{source}: layer {i}: the file has no {', '.join(missing)} "
                                      f"(the model's layer {i} has {', '.join(p.name for p in own)})")
            chosen += own
        for p in chosen:
            a = np.asarray(arrays[p.name])
            if a.shape != p.value.shape:
                raise CheckpointError(f"{source}: {p.name}: the file's {a.shape} does not fit "
                                      f"the model's {p.value.shape}")
        for p in chosen:
            p.value[...] = arrays[p.name]
        return [p.name for p in chosen]

    @property
    def differentiable(self) -> bool:
        return all(layer.differentiable for layer in self.layers) and (
            self.head is None or self.head.differentiable)

    def kink_states(self) -> list[np.ndarray]:
        states = [layer.kink_state() for layer in self.layers if layer.has_kinks]
        if self.loss.has_kinks:
            states.append(self.loss.kink_state())
        return [s.copy() for s in states if s is not None]

    def summary(self) -> list[str]:
        return [" → ".join(map(repr, block)) for block in self.blocks]


def _layer_order(prefix: str):
    return (0, int(prefix), "") if prefix.isdigit() else (1, 0, prefix)


def build_network(layer_specs: list[dict[str, Any]], input_shape, loss_spec, dtype,
                  init_rng: np.random.Generator, dropout_rng: np.random.Generator) -> Network:
    """Build the network a validated ``model.layers`` list declares, for examples of
    ``input_shape``: (C, H, W) images, or (d,) features (an int d is short for (d,)).

    Each spec's ``type`` (engine/blocks.py) builds its block: dense and gated layers, conv2d,
    pools, flatten, global_avgpool, each with its activation and dropout. Parameter names are
    ``<i>.<param>`` with ``i`` the spec's position. A spec with ``freeze: true`` has its
    parameters (weights, biases, learned slopes) marked ``frozen``.
    """
    shape = (int(input_shape),) if np.isscalar(input_shape) else tuple(int(s) for s in input_shape)
    blocks = build_blocks(layer_specs, shape, dtype, init_rng, dropout_rng)
    for spec, block in zip(layer_specs, blocks):
        if spec.get("freeze"):
            for layer in block:
                for p in layer.parameters():
                    p.frozen = True
    loss_name, loss_opts = named(loss_spec)
    loss = LOSSES.get(loss_name)(**loss_opts)
    layers = [layer for block in blocks for layer in block]
    head = None
    last = layers[-1]
    fused = FUSED.get((loss_name, type(last).__name__))
    if fused is not None:
        head = layers.pop()
        loss = fused(**loss_opts)
    return Network(layers, loss, head, blocks, input_shape=shape)

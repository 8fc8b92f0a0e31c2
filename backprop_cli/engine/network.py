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

from .activations import ACTIVATIONS, Activation
from .initializers import INITIALIZERS, resolve
from .layers import Dense, Dropout, GatedDense, Layer
from .losses import FUSED, LOSSES, Loss
from .parameter import Parameter, flatten


def named(spec) -> tuple[str, dict]:
    """A component spec as (name, options): 'tanh' or {name: leaky_relu, slope: 0.2}."""
    if isinstance(spec, str):
        return spec, {}
    spec = dict(spec)
    return spec.pop("name"), spec


class Network:
    def __init__(self, layers: list[Layer], loss: Loss, head: Activation | None = None,
                 blocks: list[list[Layer]] | None = None):
        self.layers = layers
        self.loss = loss
        self.head = head
        self.blocks = blocks or [[layer] for layer in layers]
        self._params = [p for layer in layers for p in layer.parameters()]
        flatten(self._params)  # every value and gradient: a view of one of two 1-D arrays

    # -- forward and backward -------------------------------------------------------------
    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        """What the loss sees: the outputs, or the logits when the loss is fused."""
        for layer in self.layers:
            x = layer.forward(x, training)
        return x

    def predict(self, x: np.ndarray) -> np.ndarray:
        """The network's outputs f(x) (probabilities after a fused sigmoid/softmax)."""
        z = self.forward(x, training=False)
        return self.head.forward(z) if self.head is not None else z

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
        return dout

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


def build_network(layer_specs: list[dict[str, Any]], n_inputs: int, loss_spec, dtype,
                  init_rng: np.random.Generator, dropout_rng: np.random.Generator) -> Network:
    """Build the network a validated ``model.layers`` list declares.

    Each spec: ``units``, ``activation`` (name or {name, options}), ``type`` (dense | gated,
    with ``gate`` the gate's activation), ``init``, ``dropout`` (rate after the activation).
    Parameter names are ``<i>.<param>`` with ``i`` the spec's position.
    """
    dtype = np.dtype(dtype)
    blocks: list[list[Layer]] = []
    fan_in = n_inputs
    for i, spec in enumerate(layer_specs):
        prefix = f"{i}."
        units = int(spec["units"])
        act_name, act_opts = named(spec.get("activation", "identity"))
        init_name, init_opts = named(spec.get("init", "auto"))
        init = INITIALIZERS.get(resolve(init_name, act_name))(**init_opts)

        def weight(suffix):
            return Parameter(f"{prefix}{suffix}", init((fan_in, units), init_rng, dtype))

        def bias(suffix):
            return Parameter(f"{prefix}{suffix}", np.zeros(units, dtype=dtype), decay=False)

        if spec.get("type", "dense") == "gated":
            gate_name, gate_opts = named(spec.get("gate", "sigmoid"))
            gate = ACTIVATIONS.get(gate_name)(**gate_opts)
            gate.init_parameters(units, dtype, f"{prefix}gate_")
            block: list[Layer] = [GatedDense(weight("W"), bias("b"), weight("W_gate"),
                                             bias("b_gate"), gate)]
        else:
            block = [Dense(weight("W"), bias("b"))]
        activation = ACTIVATIONS.get(act_name)(**act_opts)
        activation.init_parameters(units, dtype, prefix)
        block.append(activation)
        if spec.get("dropout", 0.0):
            block.append(Dropout(float(spec["dropout"]), dropout_rng))
        blocks.append(block)
        fan_in = units

    loss_name, loss_opts = named(loss_spec)
    loss = LOSSES.get(loss_name)(**loss_opts)
    layers = [layer for block in blocks for layer in block]
    head = None
    last = layers[-1]
    fused = FUSED.get((loss_name, type(last).__name__))
    if fused is not None:
        head = layers.pop()
        loss = fused(**loss_opts)
    return Network(layers, loss, head, blocks)

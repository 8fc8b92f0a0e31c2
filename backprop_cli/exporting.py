"""``backprop export RUN``: a trained run as a file other tools read.

| format | file (default ``RUN/export/...``) | what it holds |
| --- | --- | --- |
| ``onnx`` | ``model.onnx`` | the whole of ``backprop predict``: input scaling, every layer, the output activation |
| ``safetensors`` | ``model.safetensors`` | the weights under their backprop names; metadata: layers, dtype, scaling, classes |
| ``npz`` | ``model.npz`` | the weights as ``model.init_from`` reads them (``0.W``, ``0.b``, ...) |
| ``torch-state-dict`` | ``model.torch.npz`` | PyTorch ``state_dict`` names and layouts of an equivalent ``nn.Sequential`` |

(``--which last`` writes ``model-last.onnx`` and so on, so it never replaces the best's file.)

**ONNX.** Built with the ``onnx`` package's helper API (no PyTorch), checked with
``onnx.checker.check_model(full_check=True)`` before it is written. One input, ``input``
(batch, d): raw feature rows as ``backprop predict`` reads them from a file (an image network
too: its rows of C·H·W pixels in C order, as the CSV holds them), of the run's dtype. The
graph then does what ``predict`` does:

1. the run's scaling (preprocessing.npz): ``Sub(x, shift)``, ``Mul(·, 1/divisor)``, in the
   run's dtype, as :func:`backprop_cli.data.preprocess.apply` computes it (none for
   ``scale: none``); an image network then ``Reshape``s the rows to (batch, C, H, W);
2. each layer: dense ``Gemm(x, W, b)`` (W is (fan_in, fan_out), so no transpose); gated
   ``Gemm ⊙ gate(Gemm)``; maxout ``Gemm``, ``Reshape`` (batch, units, pieces), ``ReduceMax``;
   conv2d ``Conv`` (pads [top, left, bottom, right]: 'same' pairs kept as they are, strides,
   dilations, W (out, in, kh, kw) as it is); maxpool2d ``MaxPool``; avgpool2d ``AveragePool``
   with ``count_include_pad=1`` (padding counts as zeros, as in the engine); flatten
   ``Flatten``; global_avgpool ``ReduceMean`` over H and W; dropout is left out (evaluation);
3. each activation: identity (no node), threshold ``Cast(Greater(z, 0))`` (``GreaterOrEqual``
   with ``at_zero: 1``), sigmoid, tanh, relu, leaky_relu and grelu ``LeakyRelu`` (float32) or
   ``PRelu`` with a constant slope (float64: an attribute would round the slope to float32),
   prelu ``PRelu`` (one slope per unit, per channel after a conv, or shared), rrelu the leaky
   unit of its evaluation slope (lower + upper)/2, softplus ``Softplus`` (float64: ``Relu(z) +
   Log(1 + Exp(-|z|))``, see below), softmax ``Softmax`` over the last axis;
4. the output activation even when training fused it with the loss (softmax + cross_entropy,
   sigmoid + bce), so the outputs are probabilities; an ensemble run folder is one graph whose
   members share the input and scaling and whose outputs are averaged (``Sum``, ``Div``).

Outputs: ``output`` (batch, k), the values ``backprop predict`` writes (a classifier's
probability per class, in the order of the metadata's classes: a single sigmoid unit's p
becomes the two columns [1 - p, p], as predict's; the scores of a hinge classifier; the values
of a regression), and for classification ``label`` (batch,), int64, the predicted class's
index into the classes. The model's ``metadata_props`` hold ``classes``, ``columns``,
``task``, ``run``, ``checkpoint``, ``epoch``, ``backprop_version``, ``dtype``, ``scale``,
``input_shape`` and ``feature_names`` (JSON text where a value is a list). Opset: 17 unless
``opset`` says otherwise (13 to the newest the installed ``onnx`` knows); the IR version is the
oldest that opset needs, so older runtimes load the file.

float64 runs export float64 graphs. onnxruntime's CPU provider has no double kernel for
``Conv``, ``AveragePool``, ``Softplus`` or ``Mean`` (checked with onnxruntime 1.32): the
exporter writes softplus as the composition above and the ensemble's mean as ``Sum`` and
``Div`` in float64, so a float64 dense network runs there; a float64 network with conv2d or
avgpool2d layers is valid ONNX that onnxruntime's CPU provider cannot run (the ``onnx``
package's reference evaluator does; float32 runs everywhere).

**torch-state-dict.** An .npz (no PyTorch needed to write it) of the ``state_dict`` of the
``nn.Sequential`` that :func:`torch_modules` lists, one module (or a few) per engine layer in
order, dropout and the output activation included (``model.eval()`` makes the dropout layers
the identity, as evaluation here). Layouts:

- dense ``W`` (fan_in, fan_out) → ``Linear.weight`` = W.T (out, in), the one transpose; ``b`` →
  ``Linear.bias``;
- gated with a sigmoid gate → one ``Linear(fan_in, 2·units)`` whose ``weight`` is [W | W_gate].T
  and ``bias`` [b, b_gate], then ``GLU(dim=-1)`` (a · sigmoid(g) of the two halves);
- maxout ``W`` (fan_in, units·pieces) → ``Linear.weight`` = W.T, then ``Unflatten``,
  ``MaxPool1d(pieces)`` and ``Flatten``: column j·pieces + p is unit j's piece p, so each
  window of ``pieces`` outputs is one unit;
- conv2d ``W`` (out, in, kh, kw) → ``Conv2d.weight`` as it is, no transpose; asymmetric
  padding ('same' with an even kernel) is a ``ZeroPad2d`` before the ``Conv2d``;
- prelu ``alpha`` → ``PReLU.weight`` as it is ((units,), (channels,) or (1,)).

Refused (a usage error, exit 2): a threshold unit and a gate other than sigmoid (no
``torch.nn`` module computes them). The Sequential takes the scaled inputs in the network's
shape: (batch, d), or (batch, C, H, W) for an image network. ``model.init_from`` reads such a
file back (:func:`from_torch_state`), so weights trained in PyTorch can start a run.

Every file is written atomically (:func:`backprop_cli.rundir.atomic_write`); a run folder
copied elsewhere exports the same (it needs only its checkpoints, data.json and
preprocessing.npz). The weight formats describe one network: an ensemble's run folder exports
to ONNX, or member by member (``RUN/members/<i>``).
"""
from __future__ import annotations

import json
import os
import re
from pathlib import Path

import numpy as np

from . import __version__
from .errors import UsageError

FORMATS = ("onnx", "safetensors", "npz", "torch-state-dict")
DEFAULT_OPSET = 17
MIN_OPSET = 13
SUFFIX = {"onnx": ".onnx", "safetensors": ".safetensors", "npz": ".npz", "torch-state-dict": ".torch.npz"}
INSTALL = "pip install 'backprop-cli[export]'"
INPUT, OUTPUT, LABEL = "input", "output", "label"
#: PyTorch state-dict keys of a Sequential: module index, parameter
TORCH_KEY = re.compile(r"^\d+\.(weight|bias)$")


def export(run: str | os.PathLike, format: str = "onnx", path: str | os.PathLike | None = None,
           which: str = "best", opset: int | None = None) -> dict:
    """Write the run (a run folder, an ensemble's run folder for ONNX, or a checkpoint file)
    in ``format`` to ``path`` (default: RUN/export/model<suffix>; see the module docstring)
    and describe what was written: run, format, path, bytes, checkpoint, epoch, dtype, task,
    classes, and per format opset, inputs and outputs (onnx), tensors (the weight formats)
    and modules (torch-state-dict)."""
    from . import scoring
    if format not in FORMATS:
        raise UsageError(f"format: expected one of {', '.join(FORMATS)}, got {format!r}")
    if opset is not None and format != "onnx":
        raise UsageError(f"opset {opset}: only the onnx format has an opset (format is {format})")
    if format == "onnx":
        opset = check_opset(DEFAULT_OPSET if opset is None else opset)
    scoring.check_which(which)
    model = scoring.load_model(run, which)
    ensemble = isinstance(model, scoring.Ensemble)
    if ensemble and format != "onnx":
        raise UsageError(f"{run}: an ensemble of {len(model.members)} networks; {format} holds one "
                         f"network's weights: export a member (backprop export {Path(run) / 'members' / '0'} "
                         f"--format {format}), or the whole ensemble as one graph with --format onnx")
    default = path is None
    if default:  # RUN/export/, made when the file is written
        path = Path(model.run_dir) / "export" / (_stem(run, which) + SUFFIX[format])
    path = Path(path)
    if not default and not path.parent.is_dir():
        raise UsageError(f"{path}: no folder {path.parent}; expected an existing folder for the file")
    members = model.members if ensemble else [model]
    info = {"run": str(model.run_dir), "name": model.name, "format": format, "path": str(path),
            "which": which, "dtype": model.dtype, "task": model.task, "classes": model.classes}
    if ensemble:
        info.update({"members": len(members), "checkpoints": [str(m.checkpoint) for m in members],
                     "epochs": [m.epoch for m in members]})
    else:
        info.update({"checkpoint": str(model.checkpoint), "epoch": model.epoch})
    if format == "onnx":
        proto, about = onnx_model(model, opset)
        info.update(about)
        data = proto.SerializeToString()
    elif format == "safetensors":
        data, tensors = safetensors_bytes(model)
        info["tensors"] = tensors
    else:
        if format == "npz":
            arrays = model.network.state_dict()
        else:
            arrays = to_torch_state(model.network, where=str(run))
            info["modules"] = [module_repr(name, kwargs) for name, kwargs, _ in torch_modules(model.network, str(run))]
        info["tensors"] = {k: list(v.shape) for k, v in arrays.items()}
        data = _npz_writer(arrays)  # streamed into the file, not built in memory first
    from .rundir import atomic_write
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, data)
    info["bytes"] = path.stat().st_size
    return info


def summary_lines(info: dict) -> list[str]:
    """What :func:`export` wrote, for people: the file, then its inputs and outputs (ONNX),
    its tensors (safetensors, npz) or its modules (torch-state-dict)."""
    size = info["bytes"]
    shown = f"{size} bytes" if size < 10_000 else f"{size / 1000:,.0f} kB"
    if info["format"] == "onnx":
        head = f"ONNX opset {info['opset']}, {info['dtype']}"
        if info.get("members"):
            head += f", the mean of {info['members']} members"
        lines = [f"wrote {info['path']} ({shown}): {head}"]
        for kind, items in (("input", info["inputs"]), ("output", info["outputs"])):
            for t in items:
                shape = "×".join(map(str, t["shape"]))
                what = t.get("features") or (", ".join(t["columns"]) if isinstance(t["columns"], list)
                                             else f"{t['columns']}: {', '.join(info['classes'])}")
                lines.append(f"  {kind:<6}  {t['name']:<6}  {shape:<9}  {what}")
        return lines
    tensors = info["tensors"]
    lines = [f"wrote {info['path']} ({shown}): {len(tensors)} tensors, {info['dtype']}"]
    lines += [f"  {k:<10}  {'×'.join(map(str, v)) or 'scalar'}" for k, v in tensors.items()]
    if "modules" in info:
        lines.append("  nn.Sequential(")
        lines += [f"    {m}," for m in info["modules"]]
        lines.append("  )")
    return lines


def _stem(run, which: str) -> str:
    """model for a run folder's best checkpoint, model-last for its last; model-<stem> for a
    checkpoint file given by path (model for best.npz)."""
    target = Path(run)
    if target.is_file():
        return "model" if target.stem == "best" else f"model-{target.stem}"
    return "model" if which == "best" else f"model-{which}"


def _npz_writer(arrays: dict[str, np.ndarray]):
    """A function that writes ``arrays`` as an .npz file into the binary file it is given
    (for :func:`rundir.atomic_write`)."""
    return lambda fh: np.savez(fh, **{k: np.ascontiguousarray(v) for k, v in arrays.items()})


# -- what every format says about the run ------------------------------------------------------
def columns_of(model) -> list[str]:
    """The names of the ``output`` columns: predict's header without its class column."""
    from .scoring import is_probability, output_columns
    return output_columns(model.task, model.classes, _output_units(model), is_probability(model.network))


def _output_units(model) -> int:
    """The output layer's units (the config requires a dense or gated output layer)."""
    return int(model.config.data["model"]["layers"][-1]["units"])


def _input_shape(model) -> list[int]:
    return [int(s) for s in model.network.input_shape]


def _n_features(model) -> int:
    return int(np.prod(model.network.input_shape))


# -- ONNX ----------------------------------------------------------------------------------------
def _onnx():
    try:
        import onnx
    except ImportError:
        raise UsageError(f"--format onnx needs the onnx package, which is not installed; install the "
                         f"export extra: {INSTALL}") from None
    return onnx


class _Graph:
    """Nodes and initializers of one graph under construction, with fresh tensor names."""

    def __init__(self, onnx, dtype, opset: int):
        self.onnx, self.h = onnx, onnx.helper
        self.dtype = np.dtype(dtype)
        self.elem = onnx.helper.np_dtype_to_tensor_dtype(self.dtype)
        self.opset = opset
        self.nodes, self.inits, self._names = [], [], set()

    def name(self, base: str) -> str:
        name, k = base, 1
        while name in self._names:
            k += 1
            name = f"{base}_{k}"
        self._names.add(name)
        return name

    def const(self, base: str, value, dtype=None) -> str:
        """An initializer of ``value`` (in the graph's dtype unless ``dtype``)."""
        a = np.ascontiguousarray(np.asarray(value, dtype=dtype or self.dtype))
        name = self.name(base)
        self.inits.append(self.onnx.numpy_helper.from_array(a, name))
        return name

    def node(self, op: str, inputs: list[str], base: str, **attrs) -> str:
        out = self.name(base)
        self.nodes.append(self.h.make_node(op, inputs, [out], name=out, **attrs))
        return out

    def reduce(self, op: str, x: str, axes: list[int], base: str) -> str:
        """ReduceMax/ReduceMean over ``axes`` without keeping them (axes: an attribute before
        opset 18, an input from 18 on)."""
        if self.opset >= 18:
            return self.node(op, [x, self.const(f"{base}.axes", axes, np.int64)], base, keepdims=0)
        return self.node(op, [x], base, axes=axes, keepdims=0)


def _refuse(where: str, index: int | None, what: str, why: str) -> UsageError:
    at = f"model.layers.{index}" if index is not None else "the network"
    return UsageError(f"{where}: {at}: {what} {why}")


def _layer_index(network) -> dict[int, int]:
    """id(engine layer) -> its spec's position in model.layers."""
    return {id(layer): i for i, block in enumerate(network.blocks) for layer in block}


def _activation(g: _Graph, unit, x: str, tag: str, index, where: str, prefix: str = "") -> str:
    """The nodes of one activation unit applied to tensor ``x``."""
    from .engine import activations as A
    if isinstance(unit, A.Identity):
        return x
    if isinstance(unit, A.Threshold):
        zero = g.const(f"{tag}.zero", 0)
        step = g.node("GreaterOrEqual" if unit.at_zero else "Greater", [x, zero], f"{tag}.step")
        return g.node("Cast", [step], f"{tag}.threshold", to=g.elem)
    if isinstance(unit, A.Sigmoid):
        return g.node("Sigmoid", [x], f"{tag}.sigmoid")
    if isinstance(unit, A.Tanh):
        return g.node("Tanh", [x], f"{tag}.tanh")
    if isinstance(unit, A.ReLU):
        return g.node("Relu", [x], f"{tag}.relu")
    if isinstance(unit, (A.GReLU, A.RReLU)):  # leaky_relu, grelu; rrelu at its mean slope
        slope = unit.slope if isinstance(unit, A.GReLU) else (unit.lower + unit.upper) / 2
        if g.dtype == np.float32:
            return g.node("LeakyRelu", [x], f"{tag}.leaky_relu", alpha=float(slope))
        return g.node("PRelu", [x, g.const(f"{tag}.slope", [slope])], f"{tag}.leaky_relu")
    if isinstance(unit, A.PReLU):
        a = unit.alpha.value
        if unit.channels and not unit.shared:
            a = a.reshape(-1, 1, 1)  # one slope per channel of (n, C, H, W)
        return g.node("PRelu", [x, g.const(prefix + unit.alpha.name, a)], f"{tag}.prelu")
    if isinstance(unit, A.Softplus):
        if g.dtype == np.float32:
            return g.node("Softplus", [x], f"{tag}.softplus")
        # log(1 + e^z) = max(z, 0) + log(1 + e^-|z|), as np.logaddexp(0, z): no double kernel
        # for Softplus in onnxruntime's CPU provider
        e = g.node("Exp", [g.node("Neg", [g.node("Abs", [x], f"{tag}.abs")], f"{tag}.neg")], f"{tag}.exp")
        tail = g.node("Log", [g.node("Add", [e, g.const(f"{tag}.one", 1)], f"{tag}.add")], f"{tag}.log")
        return g.node("Add", [g.node("Relu", [x], f"{tag}.relu"), tail], f"{tag}.softplus")
    if isinstance(unit, A.Softmax):
        return g.node("Softmax", [x], f"{tag}.softmax", axis=-1)
    raise _refuse(where, index, f"activation {type(unit).__name__}", "has no ONNX form in this exporter; "
                  "nothing was written")


def _network_nodes(g: _Graph, network, x: str, where: str, prefix: str = "") -> str:
    """The nodes of the network's layers and output activation on (scaled) input ``x``."""
    from .engine import layers as L
    from .engine import pooling as P
    from .engine.activations import Activation
    from .engine.conv import Conv2d
    index = _layer_index(network)
    if network._images:
        x = g.node("Reshape", [x, g.const(f"{prefix}images.shape", [0, *network.input_shape], np.int64)],
                   f"{prefix}images")
    units = list(network.layers) + ([network.head] if network.head is not None else [])
    for layer in units:
        i = index.get(id(layer))
        tag = f"{prefix}{i}"

        def param(par):
            return g.const(prefix + par.name, par.value)

        if isinstance(layer, L.Dropout):
            continue
        if isinstance(layer, Activation):
            x = _activation(g, layer, x, tag, i, where, prefix)
        elif isinstance(layer, L.Dense):
            ins = [x, param(layer.W)] + ([param(layer.b)] if layer.b is not None else [])
            x = g.node("Gemm", ins, f"{tag}.dense")
        elif isinstance(layer, L.GatedDense):
            bias = layer.b is not None
            u = g.node("Gemm", [x, param(layer.W)] + ([param(layer.b)] if bias else []), f"{tag}.value")
            net = g.node("Gemm", [x, param(layer.W_gate)] + ([param(layer.b_gate)] if bias else []),
                         f"{tag}.gate_net")
            s = _activation(g, layer.gate, net, f"{tag}.gate", i, where, prefix)
            x = g.node("Mul", [u, s], f"{tag}.gated")
        elif isinstance(layer, L.Maxout):
            ins = [x, param(layer.W)] + ([param(layer.b)] if layer.b is not None else [])
            z = g.node("Gemm", ins, f"{tag}.pieces")
            z = g.node("Reshape", [z, g.const(f"{tag}.pieces.shape", [0, layer.units, layer.pieces], np.int64)],
                       f"{tag}.by_unit")
            x = g.reduce("ReduceMax", z, [2], f"{tag}.maxout")
        elif isinstance(layer, Conv2d):
            (top, bottom), (left, right) = layer.padding
            ins = [x, param(layer.W)] + ([param(layer.b)] if layer.b is not None else [])
            x = g.node("Conv", ins, f"{tag}.conv", kernel_shape=list(layer.W.value.shape[2:]),
                       strides=list(layer.stride), dilations=list(layer.dilation),
                       pads=[top, left, bottom, right])
        elif isinstance(layer, (P.MaxPool2d, P.AvgPool2d)):
            ph, pw = layer.padding
            attrs = {"kernel_shape": list(layer.kernel), "strides": list(layer.stride), "pads": [ph, pw, ph, pw]}
            if isinstance(layer, P.MaxPool2d):
                x = g.node("MaxPool", [x], f"{tag}.maxpool", **attrs)
            else:
                x = g.node("AveragePool", [x], f"{tag}.avgpool", count_include_pad=1, **attrs)
        elif isinstance(layer, P.Flatten):
            x = g.node("Flatten", [x], f"{tag}.flatten", axis=1)
        elif isinstance(layer, P.GlobalAvgPool):
            x = g.reduce("ReduceMean", x, [2, 3], f"{tag}.global_avgpool")
        else:
            raise _refuse(where, i, f"layer {layer!r}", "has no ONNX form in this exporter; nothing was written")
    return x


def check_opset(opset) -> int:
    """``opset`` as an int from MIN_OPSET to the newest the installed onnx knows."""
    onnx = _onnx()
    newest = onnx.defs.onnx_opset_version()
    if isinstance(opset, bool) or not isinstance(opset, (int, np.integer)) or not MIN_OPSET <= opset <= newest:
        raise UsageError(f"opset: expected an integer from {MIN_OPSET} to {newest} (the newest the "
                         f"installed onnx {onnx.__version__} knows), got {opset!r}")
    return int(opset)


def onnx_model(model, opset: int = DEFAULT_OPSET):
    """(the ONNX ModelProto of a loaded Member or Ensemble, what :func:`export` reports of it)."""
    from .scoring import Ensemble, is_probability
    from .training.metrics import threshold
    onnx = _onnx()
    opset = check_opset(opset)
    h = onnx.helper
    members = model.members if isinstance(model, Ensemble) else [model]
    net = members[0].network
    g = _Graph(onnx, model.dtype, opset)
    d = _n_features(model)
    x = INPUT
    g._names.add(INPUT)
    prep = model.prep
    if str(prep["scale"]) != "none":  # as preprocess.apply: x -= shift, x *= 1/divisor, in dtype
        shift, inv = prep["shift"].astype(g.dtype), (1.0 / prep["divisor"]).astype(g.dtype)
        if shift.any():  # (x - 0 and x * 1 are x: a pixels scale is one Mul)
            x = g.node("Sub", [x, g.const("scaling.shift", shift)], "scaling.centred")
        if (inv != 1).any():
            x = g.node("Mul", [x, g.const("scaling.inv_divisor", inv)], "scaling.scaled")
    outs = [_network_nodes(g, m.network, x, str(m.run_dir), f"members/{k}/" if len(members) > 1 else "")
            for k, m in enumerate(members)]
    if len(outs) > 1:  # the mean of the members' outputs (scoring.average_outputs)
        f = g.node("Div", [g.node("Sum", outs, "ensemble.sum"), g.const("ensemble.members", len(outs))],
                   "ensemble.mean")
    else:
        f = outs[0]
    columns = columns_of(model)
    classify = model.task == "classification"
    single = _output_units(model) == 1
    if classify and single and is_probability(net):  # p -> [1 - p, p], as scoring.probabilities
        out = g.node("Concat", [g.node("Sub", [g.const("one", 1), f], "complement"), f], "probabilities", axis=1)
    else:
        out = g.node("Identity", [f], "outputs")
    _rename(g, out, OUTPUT)
    outputs = [h.make_tensor_value_info(OUTPUT, g.elem, ["batch", len(columns)])]
    about_out = [{"name": OUTPUT, "shape": ["batch", len(columns)], "dtype": str(g.dtype), "columns": columns}]
    if classify:  # as scoring.predicted_classes
        if not single:
            lab = g.node("ArgMax", [f], "argmax", axis=1, keepdims=0)
        else:
            cut = 0.5 if net.head is not None else threshold(net)
            above = g.node("Greater", [f, g.const("threshold", [[cut]])], "above")
            lab = g.node("Reshape", [g.node("Cast", [above], "class", to=onnx.TensorProto.INT64),
                                     g.const("label.shape", [-1], np.int64)], "class_index")
        _rename(g, lab, LABEL)
        outputs.append(h.make_tensor_value_info(LABEL, onnx.TensorProto.INT64, ["batch"]))
        about_out.append({"name": LABEL, "shape": ["batch"], "dtype": "int64",
                          "columns": "the predicted class's index in classes"})
    inputs = [h.make_tensor_value_info(INPUT, g.elem, ["batch", d])]
    graph = h.make_graph(g.nodes, _graph_name(model.name), inputs, outputs, initializer=g.inits,
                         doc_string=_doc(model, columns))
    opsets = [h.make_opsetid("", opset)]
    proto = h.make_model(graph, opset_imports=opsets, producer_name="backprop",
                         producer_version=__version__,
                         doc_string=f"backprop run {model.name}: raw feature rows in, what backprop "
                                    "predict returns out")
    proto.ir_version = h.find_min_ir_version_for(opsets)
    meta = _metadata(model, columns)
    h.set_model_props(proto, meta)
    onnx.checker.check_model(proto, full_check=True)
    about = {"opset": opset, "ir_version": int(proto.ir_version),
             "inputs": [{"name": INPUT, "shape": ["batch", d], "dtype": str(g.dtype),
                         "features": f"raw features, scaled in the graph ({prep['scale']})"
                                     if str(prep["scale"]) != "none" else "raw features (scale: none)"}],
             "outputs": about_out, "metadata": meta}
    return proto, about


def _rename(g: _Graph, old: str, new: str) -> None:
    """Make the node that outputs ``old`` output ``new`` (a graph output's name)."""
    for node in g.nodes:
        for k, o in enumerate(node.output):
            if o == old:
                node.output[k] = new
                node.name = new
    g._names.add(new)


def _graph_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", name) or "backprop"


def _doc(model, columns) -> str:
    shape = "x".join(map(str, _input_shape(model)))
    return (f"input: (batch, {_n_features(model)}) raw feature rows"
            + (f" (images {shape}, C-order)" if len(_input_shape(model)) == 3 else "")
            + f"; output: {', '.join(columns)}"
            + ("; label: index of the predicted class" if model.task == "classification" else ""))


def _in_run(checkpoint, run_dir) -> str:
    """A checkpoint's path within its run folder (checkpoints/best.npz), so the file says the
    same wherever the folder is; the path itself when it lies elsewhere."""
    try:
        return Path(checkpoint).resolve().relative_to(Path(run_dir).resolve()).as_posix()
    except ValueError:
        return str(checkpoint)


def _metadata(model, columns) -> dict[str, str]:
    from .scoring import Ensemble
    ens = isinstance(model, Ensemble)
    meta = {
        "backprop_version": __version__, "run": model.name, "task": model.task,
        "classes": json.dumps(model.classes), "columns": json.dumps(columns),
        "dtype": model.dtype, "scale": str(model.prep["scale"]),
        "input_shape": json.dumps(_input_shape(model)),
        "feature_names": json.dumps(list(model.info.get("feature_names") or [])),
        "checkpoint": (json.dumps([_in_run(m.checkpoint, model.run_dir) for m in model.members]) if ens
                       else _in_run(model.checkpoint, model.run_dir)),
        "epoch": json.dumps([m.epoch for m in model.members]) if ens else str(model.epoch),
    }
    if ens:
        meta["members"] = str(len(model.members))
    return meta


# -- safetensors ------------------------------------------------------------------------------
def safetensors_bytes(model) -> tuple[bytes, dict]:
    """The weights under their backprop names (``0.W``, ...) and the metadata (strings:
    layers and loss as JSON, dtype, scaling as JSON {scale, shift, divisor}, task, classes,
    feature names, input shape, run, checkpoint, epoch), as ``safetensors.numpy.save`` writes
    them (``save_file``'s bytes: the file is then written atomically)."""
    try:
        from safetensors.numpy import save
    except ImportError:
        raise UsageError(f"--format safetensors needs the safetensors package, which is not "
                         f"installed; install the export extra: {INSTALL}") from None
    arrays = {k: np.ascontiguousarray(v) for k, v in model.network.state_dict().items()}
    cfg = model.config.data
    prep = model.prep
    meta = {
        "format": "backprop", "backprop_version": __version__, "run": model.name,
        "checkpoint": _in_run(model.checkpoint, model.run_dir), "epoch": str(model.epoch), "dtype": model.dtype,
        "task": model.task, "classes": json.dumps(model.classes),
        "feature_names": json.dumps(list(model.info.get("feature_names") or [])),
        "input_shape": json.dumps(_input_shape(model)),
        "layers": json.dumps(cfg["model"]["layers"]), "loss": json.dumps(cfg["loss"]),
        "scaling": json.dumps({"scale": str(prep["scale"]), "shift": prep["shift"].tolist(),
                               "divisor": prep["divisor"].tolist()}),
        "columns": json.dumps(columns_of(model)),
    }
    return save(arrays, metadata=meta), {k: list(v.shape) for k, v in arrays.items()}


# -- PyTorch state dict -----------------------------------------------------------------------
def torch_modules(network, where: str = "the run") -> list[tuple[str, dict, dict]]:
    """The ``nn.Sequential`` equivalent of the network: (torch.nn class name, its keyword
    arguments, {parameter: (backprop names, layout)}) per module, in order. Layouts: ``T``
    (transposed), ``same``, ``glu`` ([W | W_gate].T), ``cat`` ([b, b_gate])."""
    from .engine import activations as A
    from .engine import layers as L
    from .engine import pooling as P
    from .engine.conv import Conv2d
    index = _layer_index(network)
    out: list[tuple[str, dict, dict]] = []

    def linear(fan_in, width, W, b, layout="T"):
        params = {"weight": (W, layout)}
        if b is not None:
            params["bias"] = (b, "cat" if layout == "glu" else "same")
        out.append(("Linear", {"in_features": int(fan_in), "out_features": int(width),
                               "bias": b is not None}, params))

    units = list(network.layers) + ([network.head] if network.head is not None else [])
    for layer in units:
        i = index.get(id(layer))
        if isinstance(layer, L.Dense):
            fan_in, width = layer.W.value.shape
            linear(fan_in, width, [layer.W.name], None if layer.b is None else [layer.b.name])
        elif isinstance(layer, L.GatedDense):
            if not isinstance(layer.gate, A.Sigmoid):
                raise _refuse(where, i, f"gated layer with a {type(layer.gate).__name__.lower()} gate",
                              "has no torch.nn module (nn.GLU's gate is a sigmoid), so the network "
                              "has no PyTorch state dict; --format onnx, safetensors or npz hold it")
            fan_in, width = layer.W.value.shape
            linear(fan_in, 2 * width, [layer.W.name, layer.W_gate.name],
                   None if layer.b is None else [layer.b.name, layer.b_gate.name], "glu")
            out.append(("GLU", {"dim": -1}, {}))
        elif isinstance(layer, L.Maxout):
            fan_in, width = layer.W.value.shape
            linear(fan_in, width, [layer.W.name], None if layer.b is None else [layer.b.name])
            out += [("Unflatten", {"dim": 1, "unflattened_size": (1, int(width))}, {}),
                    ("MaxPool1d", {"kernel_size": layer.pieces}, {}), ("Flatten", {}, {})]
        elif isinstance(layer, Conv2d):
            O, C, kh, kw = layer.W.value.shape
            (top, bottom), (left, right) = layer.padding
            pad = (top, left)
            if (top, left) != (bottom, right):
                out.append(("ZeroPad2d", {"padding": (left, right, top, bottom)}, {}))
                pad = (0, 0)
            params = {"weight": ([layer.W.name], "same")}
            if layer.b is not None:
                params["bias"] = ([layer.b.name], "same")
            out.append(("Conv2d", {"in_channels": int(C), "out_channels": int(O), "kernel_size": (kh, kw),
                                   "stride": layer.stride, "padding": pad, "dilation": layer.dilation,
                                   "bias": layer.b is not None}, params))
        elif isinstance(layer, (P.MaxPool2d, P.AvgPool2d)):
            out.append((type(layer).__name__, {"kernel_size": layer.kernel, "stride": layer.stride,
                                               "padding": layer.padding}, {}))
        elif isinstance(layer, P.Flatten):
            out.append(("Flatten", {}, {}))
        elif isinstance(layer, P.GlobalAvgPool):
            out += [("AdaptiveAvgPool2d", {"output_size": 1}, {}), ("Flatten", {}, {})]
        elif isinstance(layer, L.Dropout):
            out.append(("Dropout", {"p": layer.rate}, {}))
        elif isinstance(layer, A.Identity):
            out.append(("Identity", {}, {}))
        elif isinstance(layer, A.Threshold):
            raise _refuse(where, i, "threshold unit", "has no torch.nn module (a step function), so the "
                          "network has no PyTorch state dict; --format onnx, safetensors or npz hold it")
        elif isinstance(layer, (A.Sigmoid, A.Tanh, A.ReLU, A.Softplus)):
            out.append((type(layer).__name__, {}, {}))
        elif isinstance(layer, A.GReLU):
            out.append(("LeakyReLU", {"negative_slope": layer.slope}, {}))
        elif isinstance(layer, A.RReLU):
            out.append(("RReLU", {"lower": layer.lower, "upper": layer.upper}, {}))
        elif isinstance(layer, A.PReLU):
            out.append(("PReLU", {"num_parameters": int(layer.alpha.value.size), "init": layer.init},
                        {"weight": ([layer.alpha.name], "same")}))
        elif isinstance(layer, A.Softmax):
            out.append(("Softmax", {"dim": -1}, {}))
        else:
            raise _refuse(where, i, f"layer {layer!r}", "has no torch.nn module in this exporter; nothing was written")
    return out


def module_repr(name: str, kwargs: dict) -> str:
    """'Linear(in_features=4, out_features=8, bias=True)': evaluates with torch.nn's names."""
    return f"{name}({', '.join(f'{k}={v!r}' for k, v in kwargs.items())})"


def to_torch_state(network, where: str = "the run") -> dict[str, np.ndarray]:
    """The network's weights as the state_dict of :func:`torch_modules`' Sequential."""
    values = {p.name: p.value for p in network.parameters()}
    out = {}
    for k, (_, _, params) in enumerate(torch_modules(network, where)):
        for pname, (names, layout) in params.items():
            arrays = [values[n] for n in names]
            if layout == "T":
                a = arrays[0].T
            elif layout == "glu":
                a = np.concatenate(arrays, axis=1).T
            elif layout == "cat":
                a = np.concatenate(arrays)
            else:
                a = arrays[0]
            out[f"{k}.{pname}"] = np.ascontiguousarray(a)
    return out


def is_torch_state(arrays: dict) -> bool:
    """Whether the arrays are named as a PyTorch Sequential's state_dict (``0.weight``, ...)."""
    return bool(arrays) and all(TORCH_KEY.match(k) for k in arrays)


def from_torch_state(arrays: dict[str, np.ndarray], network, where: str = "weights") -> dict[str, np.ndarray]:
    """The inverse of :func:`to_torch_state` for the network: backprop names and layouts.
    Keys of modules without those parameters are passed on under their own names (so
    ``load_state_dict`` names them as unexpected); a Linear's weight of the wrong shape is a
    CheckpointError."""
    from .errors import CheckpointError
    out, used = {}, set()
    for k, (name, _, params) in enumerate(torch_modules(network, where)):
        for pname, (names, layout) in params.items():
            key = f"{k}.{pname}"
            if key not in arrays:
                continue
            a = np.asarray(arrays[key])
            used.add(key)
            if layout == "T":
                out[names[0]] = a.T if a.ndim == 2 else a
            elif layout in ("glu", "cat"):
                half = len(a) // 2
                if len(a) % 2:
                    raise CheckpointError(f"{where}: {key}: {a.shape[0]} rows, expected an even "
                                          f"number (the {name} of a gated layer holds W and W_gate)")
                parts = (a[:half], a[half:])
                out.update(zip(names, (p.T for p in parts) if layout == "glu" else parts))
            else:
                out[names[0]] = a
    for key in set(arrays) - used:
        out[key] = arrays[key]
    return out

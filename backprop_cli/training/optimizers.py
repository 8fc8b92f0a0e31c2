"""Optimizers: update rules over a list of Parameters, in place.

Each follows PyTorch's ``torch.optim`` formula and defaults (torch 2.x), written in its
docstring; a test checks that a run ends with the same weights as PyTorch to ~1e-10 in
float64. The learning rate ``lr`` is an attribute a schedule may change between steps.

Conventions shared by all of them:

- ``weight_decay`` is PyTorch's: it applies to every parameter, biases included (so a run
  matches PyTorch); the notes' penalty that leaves biases alone is ``regularization.l2``.
- ``clip_value`` then ``clip_norm`` are applied to the gradients before the update, as
  ``torch.nn.utils.clip_grad_value_`` and ``clip_grad_norm_`` do: every entry clamped to
  [-clip_value, clip_value], then all gradients scaled by clip_norm / (‖g‖ + 1e-6) when the
  global norm ‖g‖ (over every parameter) exceeds clip_norm.
- ``state_dict()`` holds plain arrays keyed ``<parameter name>.<buffer>`` plus ``t`` (steps
  taken), so a checkpoint can store it.
- An optimizer knows only the parameters it is given: training gives it the network's
  trainable ones (``Network.trainable_parameters``), so a frozen layer's (``freeze: true``)
  have no buffers, are never updated, decayed or clipped, and do not count in clip_norm's
  global norm (as in PyTorch with ``requires_grad=False``). ``Network`` lays the trainable
  parameters out as one flat array, so the update stays one call per operation.
- Updates run in place: every intermediate goes into per-parameter scratch arrays made once,
  so a step allocates nothing. The operations and their order are PyTorch's (``lerp_``,
  ``addcmul_``, ``addcdiv_`` evaluated as its CPU kernels do), so float64 runs agree with it
  to the last few bits.
"""
from __future__ import annotations

import math

import numpy as np

from ..engine import threads
from ..engine.parameter import flat_view, pieces
from ..registry import Registry
from ..schema import Option

CLIP_OPTIONS = {
    "clip_norm": Option(float, None, "scale the gradients down when their global L2 norm "
                        "exceeds this (torch.nn.utils.clip_grad_norm_)", gt=0, nullable=True),
    "clip_value": Option(float, None, "clamp every gradient entry to [-clip_value, clip_value] "
                         "(torch.nn.utils.clip_grad_value_)", gt=0, nullable=True),
}


#: entries per block of the flat update on several threads, and the fewest entries worth
#: cutting into blocks. Measured on 2 cores (AMD EPYC, float32, best of 40 interleaved steps,
#: load ~2.4), one pass against 64K-entry blocks on 2 threads: Adam 365 → 306 µs on W3's
#: 235,146 weights and 4,552 → 2,611 µs on W4's 1,863,690; RMSprop and Adagrad alike; SGD with
#: momentum (four cheap passes, memory-bound) lost on W3 (99 → 107 µs) and gained on W4
#: (1,027 → 865 µs) there, but whole W4 training chunks at 2 threads (bench.py's runner,
#: interleaved, best of 3-6, load 2-3.6) gave 0.88-1.50x, median 0.99x: SGD keeps one pass.
#: Whole W3 chunks with Adam gave 0.97-1.82x, median 1.02x (OpenBLAS's idle threads spin
#: after each product and take the core the pool's thread wants; with
#: OPENBLAS_THREAD_TIMEOUT=16 the blocks gained 2-7%). At one thread the blocks lose to one
#: pass (a NumPy call per pass per block, no cache gain measured), so one thread keeps it.
BLOCK = 1 << 16
PARALLEL_MIN = 1 << 17
#: the fewest trainable entries for which ``fused: null`` picks the compiled update (fused.py):
#: below it, Numba's import (~0.3 s) and first compile (~0.5 s per dtype, cached on disk
#: afterwards) would cost more than a whole run gains
FUSED_MIN = 1 << 17
INSTALL_FAST = "pip install 'backprop-cli[fast]'"


def fused_option() -> Option:  # pragma: no mutate block
    return Option(bool, None, f"one compiled pass over the weights per step (Numba: {INSTALL_FAST}), "
                  "bit-identical to NumPy's passes: null (PyTorch's default) "
                  f"uses it when Numba is installed and at least {FUSED_MIN:,} weights are trained; "
                  "true always (an error without Numba); false never", nullable=True)


def fused_available() -> bool:
    """Numba can be imported (without importing it)."""
    import importlib.util
    return importlib.util.find_spec("numba") is not None


def weight_decay_option(default: float = 0.0) -> Option:  # pragma: no mutate block
    return Option(float, default, "L2 penalty added to the gradient as PyTorch does "
                  "(g + weight_decay·θ, every parameter, biases included)", ge=0)


class _Flat:
    """All parameters as one: ``value`` and ``grad`` are the 1-D arrays they are views of."""

    __slots__ = ("value", "grad")

    def __init__(self, value: np.ndarray, grad: np.ndarray):
        self.value, self.grad = value, grad


def lerp_(start: np.ndarray, end: np.ndarray, weight: float, tmp: np.ndarray) -> None:
    """start ← start + weight·(end - start), in place, computed as ``torch.lerp_`` does:
    with d = end - start, start + weight·d when |weight| < 0.5, else end - d·(1 - weight)."""
    np.subtract(end, start, out=tmp)
    if abs(weight) < 0.5:
        tmp *= weight
        start += tmp
    else:
        tmp *= 1.0 - weight
        np.subtract(end, tmp, out=start)


def average_square_(avg: np.ndarray, g: np.ndarray, beta: float, tmp: np.ndarray) -> None:
    """avg ← β·avg + (1 - β)·g², in place, as PyTorch's
    ``avg.mul_(β).addcmul_(g, g, value=1 - β)`` computes it: ((1 - β)·g)·g."""
    avg *= beta
    np.multiply(g, 1.0 - beta, out=tmp)
    tmp *= g
    avg += tmp


class Optimizer:
    """Base: gradient clipping, the step counter ``t``, buffers and their state_dict.

    Subclasses declare ``buffers`` (names of per-parameter arrays, created as zeros) and
    ``scratch`` (how many work arrays of the parameter's shape an update needs), and write
    ``update(p, g, buf, tmp)``, which changes ``p.value`` in place; ``tmp`` is the list of
    work arrays, whose contents mean nothing between steps.
    """

    options: dict[str, Option] = {"lr": Option(float, 0.01, "learning rate η", gt=0), **CLIP_OPTIONS}
    buffers: tuple[str, ...] = ()
    scratch: int = 1
    #: True when ``update`` is element-wise (each entry's new value depends on that entry
    #: alone): then a large flat array may be updated in blocks, on several threads
    blockwise: bool = False
    #: the fewest flat entries for which a blockwise update is cut into blocks
    parallel_min: int = PARALLEL_MIN
    #: the ``fused`` option (None: decide from Numba and the size); only optimizers with a
    #: ``fused_update`` (the compiled pass of fused.py) take it
    fused: bool | None = False
    #: the fused.py module while the compiled update is in use (see ``uses_fused``), else None
    _kernels = None

    def __init__(self, params, lr: float = 0.01, clip_norm: float | None = None,
                 clip_value: float | None = None):
        self.params = list(params)
        self.lr = lr
        self.clip_norm, self.clip_value = clip_norm, clip_value
        self.reset()

    @classmethod
    def problems(cls, options: dict) -> list[tuple[str, str]]:
        """(option, message) for combinations the options' own ranges cannot express."""
        return []

    def reset(self) -> None:
        """Forget every buffer and the step count (a restart starts afresh).

        When the parameters are consecutive views of one array (as ``Network`` lays them
        out), each buffer is one array too, and ``update`` runs once over all of them; the
        per-parameter buffers in ``state`` are views of it.
        """
        self.t = 0
        values = flat_view([p.value for p in self.params])
        grads = flat_view([p.grad for p in self.params])
        if values is not None and grads is not None:
            whole = _Flat(values, grads)
            bufs = {b: np.zeros_like(values) for b in self.buffers}
            views = {b: pieces(a, self.params) for b, a in bufs.items()}
            self.state = {p.name: {b: views[b][i] for b in bufs} for i, p in enumerate(self.params)}
            units = [(whole, bufs)]
        else:
            self.state = {p.name: {b: np.zeros_like(p.value) for b in self.buffers} for p in self.params}
            units = [(p, self.state[p.name]) for p in self.params]
        self._kernels = self._fused_kernels(units)
        # the compiled pass needs neither work arrays nor blocks
        scratch = 0 if self._kernels is not None else self.scratch
        #: (parameter, its buffers, its work arrays): one for all parameters when flat
        self._slots = [(p, bufs, [np.empty_like(p.value) for _ in range(scratch)])
                       for p, bufs in units]
        #: the flat slot cut into contiguous blocks of BLOCK entries (made from the size
        #: alone, never from the thread count), or None: below parallel_min entries
        self._blocks = None
        if len(units) == 1 and units[0][0] is not self.params[0] and self.blockwise \
                and self._kernels is None and self._slots[0][0].value.size >= self.parallel_min:
            whole, bufs, tmp = self._slots[0]
            n = whole.value.size
            self._blocks = [
                (_Flat(whole.value[a:a + BLOCK], whole.grad[a:a + BLOCK]),
                 {b: arr[a:a + BLOCK] for b, arr in bufs.items()}, [w[a:a + BLOCK] for w in tmp])
                for a in range(0, n, BLOCK)]

    @property
    def uses_fused(self) -> bool:
        """True when each step is fused.py's compiled pass instead of NumPy's passes."""
        return self._kernels is not None

    def _fused_kernels(self, units):
        """fused.py when the compiled update is to be used (the ``fused`` option) on ``units``,
        the (parameter, buffers) pairs an update goes over; else None."""
        if self.fused is False or not hasattr(self, "fused_update"):
            return None
        if self.fused is None and (sum(p.value.size for p, _ in units) < FUSED_MIN
                                   or not fused_available()):
            return None
        if not fused_available():
            raise ValueError(f"fused: true needs Numba, which is not installed: {INSTALL_FAST}")
        arrays = [a for p, bufs in units for a in (p.value, p.grad, *bufs.values())]
        if not all(a.flags.c_contiguous for a in arrays):  # never for a Network's parameters
            if self.fused is None:
                return None
            raise ValueError("fused: true needs contiguous parameter arrays")
        from . import fused
        return fused

    def clip(self) -> None:
        grads = [p.grad for p in self.params]
        if self.clip_value is not None:
            for g in grads:
                np.clip(g, -self.clip_value, self.clip_value, out=g)
        if self.clip_norm is not None:
            norm = math.sqrt(sum(float(np.vdot(g, g)) for g in grads))
            coef = self.clip_norm / (norm + 1e-6)
            if coef < 1.0:
                for g in grads:
                    g *= coef

    def step(self) -> None:
        if self.clip_value is not None or self.clip_norm is not None:
            self.clip()
        self.t += 1
        if self._kernels is not None:  # one compiled pass, on this thread: on the pool's
            for p, buf, tmp in self._slots:  # blocks it measured slower (W3, 2 threads:
                self.fused_update(p, p.grad, buf, tmp)  # 106 µs on one, 167 µs on two)
            return
        update = self.update
        blocks = self._blocks
        count = 1 if blocks is None else threads.num_threads()
        if count > 1:
            threads.run(lambda i, _: update(blocks[i][0], blocks[i][0].grad, *blocks[i][1:]),
                        len(blocks), count)
            return
        for p, buf, tmp in self._slots:
            update(p, p.grad, buf, tmp)

    def update(self, p, g, buf: dict, tmp: list) -> None:
        raise NotImplementedError

    def decayed(self, p, g, out):
        """g + weight_decay·θ (PyTorch's ``grad.add(param, alpha=weight_decay)``) in ``out``;
        g itself, untouched, without weight decay."""
        if not self.weight_decay:
            return g
        np.multiply(p.value, self.weight_decay, out=out)
        out += g
        return out

    def state_dict(self, into: dict[str, np.ndarray] | None = None) -> dict[str, np.ndarray]:
        """Copies of ``t`` and every buffer; ``into``: a previous result whose arrays are
        overwritten (no allocation) and returned."""
        if into is not None:
            into["t"][...] = self.t
            for name, bufs in self.state.items():
                for b, arr in bufs.items():
                    np.copyto(into[f"{name}.{b}"], arr)
            return into
        out = {"t": np.array(self.t)}
        for name, bufs in self.state.items():
            for b, arr in bufs.items():
                out[f"{name}.{b}"] = arr.copy()
        return out

    def load_state_dict(self, state: dict[str, np.ndarray]) -> None:
        self.t = int(state["t"])
        for name, bufs in self.state.items():
            for b, arr in bufs.items():
                arr[...] = state[f"{name}.{b}"]


class SGD(Optimizer):
    """Stochastic gradient descent with optional momentum (torch.optim.SGD).

    g ← ∇E(θ) + weight_decay·θ
    with momentum μ ≠ 0: b ← g at the first step, else b ← μ b + (1 - dampening) g;
                         g ← g + μ b (nesterov) or g ← b
    θ ← θ - η g

    Without momentum this is the notes' step θ ← θ - η ∇E(θ) (note 002). Defaults are
    PyTorch's: lr 0.001, momentum 0, dampening 0, weight_decay 0, nesterov false.
    """

    options = {
        "lr": Option(float, 0.001, "learning rate η", gt=0),
        "momentum": Option(float, 0.0, "momentum factor μ (the notes' gradient accumulator)", ge=0),
        "dampening": Option(float, 0.0, "dampening of the momentum's new gradient", ge=0, le=1),
        "nesterov": Option(bool, False, "Nesterov momentum (needs momentum > 0, dampening 0)"),
        "weight_decay": weight_decay_option(),
        "fused": fused_option(),
        **CLIP_OPTIONS,
    }

    def __init__(self, params, lr=0.001, momentum=0.0, dampening=0.0, nesterov=False,
                 weight_decay=0.0, fused=None, **clip):
        self.momentum, self.dampening, self.nesterov = momentum, dampening, nesterov
        self.weight_decay, self.fused = weight_decay, fused
        self.buffers = ("momentum_buffer",) if momentum else ()
        self.scratch = 2 if weight_decay else 1
        for key, msg in self.problems({"momentum": momentum, "dampening": dampening,
                                       "nesterov": nesterov}):
            raise ValueError(f"{key}: {msg}")
        super().__init__(params, lr, **clip)

    @classmethod
    def problems(cls, options):
        if options.get("nesterov") and (not options.get("momentum") or options.get("dampening")):
            return [("nesterov", "Nesterov momentum needs momentum > 0 and dampening 0, got "
                     f"momentum {options.get('momentum', 0):g}, dampening {options.get('dampening', 0):g}")]
        return []

    def update(self, p, g, buf, tmp):
        g = self.decayed(p, g, tmp[-1])
        step = tmp[0]  # never g: with weight decay, g is tmp[1]
        if self.momentum:
            b = buf["momentum_buffer"]
            if self.t == 1:
                np.copyto(b, g)
            else:
                b *= self.momentum
                if self.dampening:
                    np.multiply(g, 1.0 - self.dampening, out=step)
                    b += step
                else:
                    b += g
            if self.nesterov:  # g + μ b
                np.multiply(b, self.momentum, out=step)
                g = np.add(g, step, out=step)
            else:
                g = b
        np.multiply(g, self.lr, out=step)
        p.value -= step

    def fused_update(self, p, g, buf, tmp):
        """``update`` in one compiled pass (fused.sgd), bit-identical; ``tmp`` is empty."""
        f = p.value.dtype.type
        w = p.value.reshape(-1)
        b = buf["momentum_buffer"].reshape(-1) if self.momentum else w  # w: unused
        self._kernels.sgd(w, g.reshape(-1), b, f(self.weight_decay), f(self.momentum),
                          f(1.0 - self.dampening), f(self.lr), bool(self.weight_decay),
                          bool(self.momentum), self.t == 1, bool(self.dampening), bool(self.nesterov))


class Adagrad(Optimizer):
    """Adaptive gradients (torch.optim.Adagrad): each weight's step shrinks with the sum of
    its past squared gradients.

    g ← ∇E(θ) + weight_decay·θ;   η_t = η / (1 + (t - 1)·lr_decay)
    s ← s + g²   (s starts at initial_accumulator_value)
    θ ← θ - η_t g / (√s + eps)

    Defaults: lr 0.01, lr_decay 0, weight_decay 0, initial_accumulator_value 0, eps 1e-10.
    """

    options = {
        "lr": Option(float, 0.01, "learning rate η", gt=0),
        "lr_decay": Option(float, 0.0, "η_t = η / (1 + (t - 1)·lr_decay), t the step", ge=0),
        "weight_decay": weight_decay_option(),
        "initial_accumulator_value": Option(float, 0.0, "start of the sum of squares", ge=0),
        "eps": Option(float, 1e-10, "added to √s, for stability", ge=0),
        "fused": fused_option(),
        **CLIP_OPTIONS,
    }
    buffers = ("sum",)

    blockwise = True

    def __init__(self, params, lr=0.01, lr_decay=0.0, weight_decay=0.0,
                 initial_accumulator_value=0.0, eps=1e-10, fused=None, **clip):
        self.lr_decay, self.weight_decay, self.eps = lr_decay, weight_decay, eps
        self.initial_accumulator_value, self.fused = initial_accumulator_value, fused
        self.scratch = 3 if weight_decay else 2
        super().__init__(params, lr, **clip)

    def reset(self):
        super().reset()
        for bufs in self.state.values():
            bufs["sum"][...] = self.initial_accumulator_value

    def update(self, p, g, buf, tmp):
        g = self.decayed(p, g, tmp[-1])
        std, step = tmp[0], tmp[1]
        clr = self.lr / (1.0 + (self.t - 1) * self.lr_decay)
        s = buf["sum"]
        np.multiply(g, g, out=std)
        s += std
        np.sqrt(s, out=std)
        std += self.eps
        np.multiply(g, clr, out=step)
        step /= std
        p.value -= step

    def fused_update(self, p, g, buf, tmp):
        """``update`` in one compiled pass (fused.adagrad), bit-identical."""
        f = p.value.dtype.type
        clr = self.lr / (1.0 + (self.t - 1) * self.lr_decay)
        self._kernels.adagrad(p.value.reshape(-1), g.reshape(-1), buf["sum"].reshape(-1),
                              f(self.weight_decay), f(clr), f(self.eps), bool(self.weight_decay))


class RMSprop(Optimizer):
    """RMSprop (torch.optim.RMSprop): divide by a running root mean square of the gradients.

    g ← ∇E(θ) + weight_decay·θ
    v ← α v + (1 - α) g²
    centered: ḡ ← α ḡ + (1 - α) g,  d = √(v - ḡ²) + eps;   else d = √v + eps
    momentum μ > 0: b ← μ b + g / d,  θ ← θ - η b;   else θ ← θ - η g / d

    Defaults: lr 0.01, alpha 0.99, eps 1e-8, weight_decay 0, momentum 0, centered false.
    """

    options = {
        "lr": Option(float, 0.01, "learning rate η", gt=0),
        "alpha": Option(float, 0.99, "smoothing constant α of the squared-gradient average", ge=0, le=1),
        "eps": Option(float, 1e-8, "added to the root mean square, for stability", ge=0),
        "weight_decay": weight_decay_option(),
        "momentum": Option(float, 0.0, "momentum factor μ", ge=0),
        "centered": Option(bool, False, "normalize by the variance estimate v - ḡ² instead of v"),
        **CLIP_OPTIONS,
    }

    blockwise = True

    def __init__(self, params, lr=0.01, alpha=0.99, eps=1e-8, weight_decay=0.0, momentum=0.0,
                 centered=False, **clip):
        self.alpha, self.eps, self.weight_decay = alpha, eps, weight_decay
        self.momentum, self.centered = momentum, centered
        self.buffers = ("square_avg",) + (("momentum_buffer",) if momentum else ()) + (
            ("grad_avg",) if centered else ())
        self.scratch = 3 if weight_decay else 2
        super().__init__(params, lr, **clip)

    def update(self, p, g, buf, tmp):
        a = self.alpha
        g = self.decayed(p, g, tmp[-1])
        d, step = tmp[0], tmp[1]
        v = buf["square_avg"]
        average_square_(v, g, a, d)
        if self.centered:
            gbar = buf["grad_avg"]
            lerp_(gbar, g, 1.0 - a, d)
            np.multiply(gbar, gbar, out=d)
            np.subtract(v, d, out=d)
            np.sqrt(d, out=d)
        else:
            np.sqrt(v, out=d)
        d += self.eps
        if self.momentum > 0:
            b = buf["momentum_buffer"]
            b *= self.momentum
            np.divide(g, d, out=step)
            b += step
            np.multiply(b, self.lr, out=step)
        else:
            np.multiply(g, self.lr, out=step)
            step /= d
        p.value -= step


class Adam(Optimizer):
    """Adam (torch.optim.Adam), with the AMSGrad variant as an option.

    g ← ∇E(θ) + weight_decay·θ
    m ← β1 m + (1 - β1) g;   v ← β2 v + (1 - β2) g²
    amsgrad: v̂ ← max(v̂, v), else v̂ = v
    θ ← θ - (η / (1 - β1^t)) · m / (√v̂ / √(1 - β2^t) + eps)

    eps sits outside the bias-corrected root, as in PyTorch (Keras puts it inside the
    correction: its results differ slightly). PyTorch's ``betas=(β1, β2)`` are ``beta1`` and
    ``beta2`` here. Defaults: lr 0.001, beta1 0.9, beta2 0.999, eps 1e-8, weight_decay 0,
    amsgrad false.
    """

    options = {
        "lr": Option(float, 0.001, "learning rate η", gt=0),
        "beta1": Option(float, 0.9, "decay β1 of the gradient average m (PyTorch's betas[0])", ge=0, lt=1),
        "beta2": Option(float, 0.999, "decay β2 of the squared-gradient average v (PyTorch's betas[1])",
                        ge=0, lt=1),
        "eps": Option(float, 1e-8, "added to the denominator, for stability", ge=0),
        "weight_decay": weight_decay_option(),
        "amsgrad": Option(bool, False, "AMSGrad: divide by the largest v seen so far"),
        "fused": fused_option(),
        **CLIP_OPTIONS,
    }
    decoupled = False

    blockwise = True

    def __init__(self, params, lr=0.001, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.0,
                 amsgrad=False, fused=None, **clip):
        self.beta1, self.beta2, self.eps = beta1, beta2, eps
        self.weight_decay, self.amsgrad, self.fused = weight_decay, amsgrad, fused
        self.buffers = ("exp_avg", "exp_avg_sq") + (("max_exp_avg_sq",) if amsgrad else ())
        self.scratch = 3 if weight_decay and not self.decoupled else 2
        super().__init__(params, lr, **clip)

    def update(self, p, g, buf, tmp):
        b1, b2, t = self.beta1, self.beta2, self.t
        if self.decoupled:
            if self.weight_decay:
                p.value *= 1.0 - self.lr * self.weight_decay
        else:
            g = self.decayed(p, g, tmp[-1])
        denom, step = tmp[0], tmp[1]
        m, v = buf["exp_avg"], buf["exp_avg_sq"]
        lerp_(m, g, 1.0 - b1, denom)
        average_square_(v, g, b2, denom)
        if self.amsgrad:
            vhat = buf["max_exp_avg_sq"]
            np.maximum(vhat, v, out=vhat)
        else:
            vhat = v
        step_size = self.lr / (1.0 - b1 ** t)
        np.sqrt(vhat, out=denom)
        denom /= math.sqrt(1.0 - b2 ** t)
        denom += self.eps
        np.multiply(m, step_size, out=step)
        step /= denom
        p.value -= step

    def fused_update(self, p, g, buf, tmp):
        """``update`` in one compiled pass (fused.adam), bit-identical."""
        f = p.value.dtype.type
        b1, b2, t = self.beta1, self.beta2, self.t
        weight = 1.0 - b1
        v = buf["exp_avg_sq"].reshape(-1)
        vmax = buf["max_exp_avg_sq"].reshape(-1) if self.amsgrad else v  # v: unused
        self._kernels.adam(
            p.value.reshape(-1), g.reshape(-1), buf["exp_avg"].reshape(-1), v, vmax,
            f(1.0 - self.lr * self.weight_decay), f(self.weight_decay), f(weight), f(1.0 - weight),
            f(b2), f(1.0 - b2), f(self.lr / (1.0 - b1 ** t)), f(math.sqrt(1.0 - b2 ** t)),
            f(self.eps), bool(self.weight_decay), bool(self.decoupled), abs(weight) < 0.5,
            bool(self.amsgrad))


class AdamW(Adam):
    """AdamW (torch.optim.AdamW): Adam with decoupled weight decay.

    θ ← θ (1 - η·weight_decay) first, then Adam's step on g = ∇E(θ) (the decay never enters
    m or v). Defaults as Adam's except weight_decay 0.01.
    """

    options = {**Adam.options, "weight_decay": Option(
        float, 0.01, "decoupled decay: θ ← θ (1 - η·weight_decay) before each step (every "
        "parameter, biases included, as in PyTorch)", ge=0)}
    decoupled = True

    def __init__(self, params, lr=0.001, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.01,
                 amsgrad=False, fused=None, **clip):
        super().__init__(params, lr, beta1, beta2, eps, weight_decay, amsgrad, fused, **clip)


OPTIMIZERS = Registry("optimizer", {
    "sgd": SGD, "adagrad": Adagrad, "rmsprop": RMSprop, "adam": Adam, "adamw": AdamW,
})

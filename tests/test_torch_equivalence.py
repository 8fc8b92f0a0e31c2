"""Every optimizer against PyTorch's torch.optim, run for run: the same initial weights, the
same mini-batches in the same order, float64; the final weights must agree to ~1e-10.

Skipped where PyTorch is not installed (it is not a dependency of backprop)."""
import numpy as np
import pytest

from backprop_cli.data.dataset import Dataset
from backprop_cli.engine.network import build_network
from backprop_cli.training.optimizers import OPTIMIZERS, fused_available
from backprop_cli.training.trainer import Trainer

torch = pytest.importorskip("torch")

# (backprop name, options) -> the PyTorch optimizer with the same meaning
CASES = [
    ("sgd", {"lr": 0.1}),
    ("sgd", {"lr": 0.05, "momentum": 0.9}),
    ("sgd", {"lr": 0.05, "momentum": 0.9, "dampening": 0.3}),
    ("sgd", {"lr": 0.05, "momentum": 0.8, "nesterov": True}),
    ("sgd", {"lr": 0.05, "momentum": 0.9, "weight_decay": 0.01}),
    ("adagrad", {}),
    ("adagrad", {"lr": 0.1, "lr_decay": 0.01, "weight_decay": 0.02, "initial_accumulator_value": 0.1}),
    ("rmsprop", {}),
    ("rmsprop", {"lr": 0.005, "alpha": 0.9, "momentum": 0.5}),
    ("rmsprop", {"lr": 0.005, "centered": True, "weight_decay": 0.01}),
    ("rmsprop", {"lr": 0.005, "centered": True, "momentum": 0.7, "eps": 1e-6}),
    ("adam", {}),
    ("adam", {"lr": 0.01, "beta1": 0.8, "beta2": 0.99, "eps": 1e-7}),
    ("adam", {"lr": 0.01, "amsgrad": True, "weight_decay": 0.05}),
    ("adamw", {}),
    ("adamw", {"lr": 0.01, "weight_decay": 0.1, "amsgrad": True}),
    ("sgd", {"lr": 0.1, "momentum": 0.9, "clip_norm": 0.5}),
    ("adam", {"lr": 0.01, "clip_value": 0.05}),
]
LAYERS = [{"units": 5, "activation": "tanh"}, {"units": 2, "activation": "identity"}]


def torch_optimizer(name, opts, params):
    o = {k: v for k, v in opts.items() if k not in ("clip_norm", "clip_value", "beta1", "beta2",
                                                   "fused")}
    if "beta1" in opts or "beta2" in opts:
        o["betas"] = (opts.get("beta1", 0.9), opts.get("beta2", 0.999))
    cls = {"sgd": torch.optim.SGD, "adagrad": torch.optim.Adagrad, "rmsprop": torch.optim.RMSprop,
           "adam": torch.optim.Adam, "adamw": torch.optim.AdamW}[name]
    return cls(params, **o)


def data(n=24, seed=3):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 3))
    Y = np.stack([np.sin(X[:, 0]) + X[:, 1], X[:, 2] * X[:, 0]], axis=1)
    return Dataset(X, Y)


def run_backprop(name, opts, train, epochs, batch):
    rng = np.random.default_rng(0)
    net = build_network(LAYERS, 3, "mse", np.float64, rng, rng)
    init = net.state_dict()
    opt = OPTIMIZERS.get(name)(net.parameters(), **opts)
    Trainer(net, opt, epochs=epochs, batch_size=batch, shuffle=False).fit(train)
    return init, net.state_dict()


def run_torch(name, opts, init, train, epochs, batch):
    lin1, lin2 = torch.nn.Linear(3, 5).double(), torch.nn.Linear(5, 2).double()
    with torch.no_grad():
        for lin, i in ((lin1, 0), (lin2, 1)):
            lin.weight.copy_(torch.from_numpy(init[f"{i}.W"].T))
            lin.bias.copy_(torch.from_numpy(init[f"{i}.b"]))
    params = [lin1.weight, lin1.bias, lin2.weight, lin2.bias]
    opt = torch_optimizer(name, opts, params)
    X, Y = torch.from_numpy(train.X), torch.from_numpy(train.Y)
    for _ in range(epochs):
        for start in range(0, len(X), batch):
            opt.zero_grad()
            out = lin2(torch.tanh(lin1(X[start:start + batch])))
            torch.nn.functional.mse_loss(out, Y[start:start + batch]).backward()
            if opts.get("clip_value"):
                torch.nn.utils.clip_grad_value_(params, opts["clip_value"])
            if opts.get("clip_norm"):
                torch.nn.utils.clip_grad_norm_(params, opts["clip_norm"])
            opt.step()
    return {"0.W": lin1.weight.detach().numpy().T, "0.b": lin1.bias.detach().numpy(),
            "1.W": lin2.weight.detach().numpy().T, "1.b": lin2.bias.detach().numpy()}


def max_difference(name, opts, epochs=5, batch=6):
    train = data()
    init, ours = run_backprop(name, opts, train, epochs, batch)
    theirs = run_torch(name, opts, init, train, epochs, batch)
    moved = max(np.abs(ours[k] - init[k]).max() for k in ours)
    return max(np.abs(ours[k] - theirs[k]).max() for k in ours), moved


#: the same cases through the compiled one-pass update (optimizer.fused: true), where Numba
#: (the fast extra) is installed
FUSED_CASES = [pytest.param(n, {**o, "fused": True}, id=f"{n}-{'-'.join(o) or 'defaults'}-fused",
                            marks=pytest.mark.skipif(not fused_available(), reason="needs numba"))
               for n, o in CASES if n in ("sgd", "adam", "adamw", "adagrad")]


@pytest.mark.parametrize("name,opts", [pytest.param(n, o, id=f"{n}-{'-'.join(o) or 'defaults'}")
                                       for n, o in CASES] + FUSED_CASES)
def test_final_weights_match_pytorch(name, opts):
    diff, moved = max_difference(name, opts)
    assert moved > 1e-3, "the weights barely moved: the comparison would prove nothing"
    assert diff < 1e-10, f"{name} {opts}: max |backprop - torch| = {diff:.3g}"


def test_every_optimizer_is_compared():
    assert {n for n, _ in CASES} == set(OPTIMIZERS.names())


def test_defaults_are_pytorchs():
    """The defaults of each registered optimizer are those of torch.optim's signature."""
    import inspect
    for name in OPTIMIZERS:
        cls = {"sgd": torch.optim.SGD, "adagrad": torch.optim.Adagrad, "rmsprop": torch.optim.RMSprop,
               "adam": torch.optim.Adam, "adamw": torch.optim.AdamW}[name]
        theirs = {k: p.default for k, p in inspect.signature(cls.__init__).parameters.items()}
        if "betas" in theirs:
            theirs["beta1"], theirs["beta2"] = theirs.pop("betas")
        for key, option in OPTIMIZERS.get(name).options.items():
            if key in ("clip_norm", "clip_value"):
                continue
            assert option.default == theirs[key], f"{name}.{key}: {option.default} vs torch {theirs[key]}"

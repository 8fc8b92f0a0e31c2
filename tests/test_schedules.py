"""Learning-rate schedules: the lr of each epoch, worked out by hand (and against PyTorch's
schedulers where PyTorch is installed)."""
import math

import pytest

from backprop_cli.training.callbacks import TrainState
from backprop_cli.training.schedules import SCHEDULES


class Opt:
    def __init__(self, lr):
        self.lr = lr


def lrs(name, epochs, lr=1.0, metrics=None, **opts):
    """The lr each epoch trains with, as the trainer drives a schedule."""
    sched = SCHEDULES.get(name)(**opts)
    state = TrainState(network=None, optimizer=Opt(lr), epochs=epochs)
    sched.on_train_begin(state)
    out = []
    for e in range(epochs):
        state.epoch = e + 1
        sched.on_epoch_begin(state)
        out.append(state.optimizer.lr)
        state.logs = {"train_loss": metrics[e] if metrics else 1.0}
        sched.on_epoch_end(state)
    return out


def test_constant():
    assert lrs("constant", 3, lr=0.3) == [0.3, 0.3, 0.3]


def test_step():
    assert lrs("step", 7, step_size=3, gamma=0.5) == pytest.approx([1, 1, 1, .5, .5, .5, .25])
    assert lrs("step", 3, step_size=1) == pytest.approx([1, .1, .01])      # PyTorch's gamma 0.1


def test_multistep():
    assert lrs("multistep", 6, milestones=[4, 2], gamma=0.1) == pytest.approx([1, 1, .1, .1, .01, .01])


def test_exponential():
    assert lrs("exponential", 4, lr=2.0, gamma=0.5) == pytest.approx([2, 1, .5, .25])


def test_inverse_scaling():
    # η / (t + 1)^power: 1, 1/√2, 1/√3, 1/2
    assert lrs("inverse_scaling", 4) == pytest.approx([1, 2 ** -.5, 3 ** -.5, .5])
    assert lrs("inverse_scaling", 3, power=1.0) == pytest.approx([1, 1 / 2, 1 / 3])


def test_cosine_with_and_without_warmup():
    # T = 4: min + (1 - min)(1 + cos(π t/4))/2 for t = 0..4, then min_lr
    expected = [0.1 + 0.9 * (1 + math.cos(math.pi * t / 4)) / 2 for t in range(5)] + [0.1]
    assert lrs("cosine", 6, T_max=4, min_lr=0.1) == pytest.approx(expected)
    assert lrs("cosine", 6, T_max=4, min_lr=0.1, warmup=2) == pytest.approx([0.5, 1.0] + expected[:4])


def test_reduce_on_plateau():
    # best 1.0 at epoch 1; epochs 2, 3 do not improve by more than 0.01: bad = 1, 2 > patience 1
    # → lr × 0.5 from epoch 4; cooldown 1 holds epoch 4's count at 0; epochs 5, 6 bad again.
    metrics = [1.0, 0.995, 1.2, 1.1, 1.3, 1.3, 0.5, 0.4]
    got = lrs("reduce_on_plateau", 8, metrics=metrics, patience=1, factor=0.5, min_delta=0.01,
              cooldown=1, min_lr=0.2)
    assert got == pytest.approx([1, 1, 1, .5, .5, .5, .25, .25])
    # min_lr bounds it
    got = lrs("reduce_on_plateau", 8, metrics=[1.0] * 8, patience=0, factor=0.1, min_lr=0.05)
    assert got == pytest.approx([1, 1, .1, .05, .05, .05, .05, .05])


def test_reduce_on_plateau_monitors_accuracy_upwards():
    sched = SCHEDULES.get("reduce_on_plateau")(monitor="val_accuracy", patience=0, factor=0.5)
    state = TrainState(network=None, optimizer=Opt(1.0), epochs=3)
    sched.on_train_begin(state)
    for acc in (0.5, 0.9, 0.8):
        sched.on_epoch_begin(state)
        state.logs = {"train_loss": 1.0, "val_accuracy": acc}
        sched.on_epoch_end(state)
    sched.on_epoch_begin(state)
    assert state.optimizer.lr == 0.5  # 0.9 was an improvement, 0.8 was not


def test_restart_starts_the_schedule_again():
    sched = SCHEDULES.get("exponential")(gamma=0.5)
    state = TrainState(network=None, optimizer=Opt(1.0), epochs=9)
    sched.on_train_begin(state)
    for _ in range(3):
        sched.on_epoch_begin(state)
        sched.on_epoch_end(state)
    sched.on_restart(state)
    sched.on_epoch_begin(state)
    assert state.optimizer.lr == 1.0


@pytest.mark.parametrize("name,opts,torch_name,torch_opts", [
    ("step", {"step_size": 3, "gamma": 0.5}, "StepLR", {"step_size": 3, "gamma": 0.5}),
    ("multistep", {"milestones": [2, 5]}, "MultiStepLR", {"milestones": [2, 5]}),
    ("exponential", {"gamma": 0.9}, "ExponentialLR", {"gamma": 0.9}),
    ("cosine", {"T_max": 6, "min_lr": 0.01}, "CosineAnnealingLR", {"T_max": 6, "eta_min": 0.01}),
])
def test_matches_pytorch_schedulers(name, opts, torch_name, torch_opts):
    torch = pytest.importorskip("torch")
    w = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([w], lr=0.5)
    sched = getattr(torch.optim.lr_scheduler, torch_name)(opt, **torch_opts)
    theirs = []
    for _ in range(7):
        theirs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    assert lrs(name, 7, lr=0.5, **opts) == pytest.approx(theirs, rel=1e-12)


def test_every_schedule_is_tested():
    tested = {"constant", "step", "multistep", "exponential", "inverse_scaling", "cosine",
              "reduce_on_plateau"}
    assert set(SCHEDULES.names()) == tested


def test_multistep_problems_name_the_bad_milestone():
    from backprop_cli.training.schedules import MultiStep
    assert MultiStep.problems({"milestones": [3, 7]}) == []
    assert MultiStep.problems({"milestones": [1]}) == []
    for bad, shown in (([3, 0], "0"), ([2, True], "True"), ([4, 2.5, -1], "2.5")):
        assert MultiStep.problems({"milestones": bad}) == [("milestones", f"must be integers >= 1, got {shown}")]
    for empty in ({"milestones": []}, {}):
        assert MultiStep.problems(empty) == [("milestones", "must list at least one epoch, got an empty list")]


def test_cosine_descends_to_0_by_default():
    assert lrs("cosine", 4, T_max=2) == pytest.approx([1.0, 0.5, 0.0, 0.0])


def test_reduce_on_plateau_restart_forgets_the_plateau():
    sched = SCHEDULES.get("reduce_on_plateau")(patience=0, factor=0.5)
    state = TrainState(network=None, optimizer=Opt(1.0), epochs=9)
    sched.on_train_begin(state)
    for loss in (1.0, 1.0, 1.0):
        sched.on_epoch_begin(state)
        state.logs = {"train_loss": loss}
        sched.on_epoch_end(state)
    assert sched.lr == 0.25
    sched.on_restart(state)
    assert state.optimizer.lr == 1.0 and sched.t == 0
    for loss, lr in ((5.0, 1.0), (5.0, 1.0)):   # a new best at 5.0: the old one is forgotten
        sched.on_epoch_begin(state)
        assert state.optimizer.lr == lr
        state.logs = {"train_loss": loss}
        sched.on_epoch_end(state)
    sched.on_epoch_begin(state)
    assert state.optimizer.lr == 0.5


def test_reduce_on_plateau_defaults_and_boundaries():
    # PyTorch's defaults: factor 0.1 after more than patience 10 epochs without improvement
    got = lrs("reduce_on_plateau", 13, metrics=[1.0] * 13)
    assert got[:12] == [1.0] * 12 and got[12] == pytest.approx(0.1)
    # improving by exactly min_delta (0.25, exact in binary) is not an improvement
    assert lrs("reduce_on_plateau", 3, metrics=[1.0, 0.75, 0.5], patience=0, factor=0.5,
               min_delta=0.25) == [1.0, 1.0, 0.5]
    # after a reduction the count starts from 0: with patience 1, every 2 bad epochs
    assert lrs("reduce_on_plateau", 7, metrics=[1.0] * 7, patience=1, factor=0.5) == pytest.approx(
        [1, 1, 1, .5, .5, .25, .25])
    # cooldown 2 holds two epochs' counts at 0
    assert lrs("reduce_on_plateau", 7, metrics=[1.0] * 7, patience=0, factor=0.5, cooldown=2) == pytest.approx(
        [1, 1, .5, .5, .5, .25, .25])


@pytest.mark.parametrize("name", SCHEDULES.names())
def test_schedule_constructor_defaults_are_the_declared_options(name):
    import inspect
    cls = SCHEDULES.get(name)
    signature = inspect.signature(cls.__init__).parameters
    for key, option in getattr(cls, "options", {}).items():
        if not option.required:
            assert signature[key].default == option.default, f"{name}.{key}"

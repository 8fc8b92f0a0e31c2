"""Layer health on constructed networks, the live view's plain lines and its sparkline."""
import io

import numpy as np
import pytest
from helpers import XOR_YAML, write
from rich.console import Console

from backprop_cli import api
from backprop_cli.console import ProgressBar, sparkline
from backprop_cli.engine.network import build_network
from backprop_cli.training.health import ActivationStats, layer_health


def net_of(layers, n_in=2, loss="quadratic"):
    rng = np.random.default_rng(0)
    return build_network(layers, n_in, loss, "float64", rng, rng)


def test_all_dead_relus_are_100_percent_and_warned():
    net = net_of([{"units": 3, "activation": "relu"}, {"units": 1}])
    dense, relu = net.blocks[0][:2]
    dense.b.value[...] = -100.0                      # net < 0 for every input in [-1, 1]^2
    X = np.random.default_rng(1).uniform(-1, 1, (50, 2))
    net.train_step_gradients(X, np.zeros((50, 1)))
    stats = [ActivationStats(), None]
    stats[0].add(relu)
    h = layer_health(net, stats=stats)
    assert h[0].dead == 1.0 and "100% dead ReLUs" in h[0].warnings
    assert h[0].grad_norm == 0.0 and any("vanishing" in w for w in h[0].warnings)


def test_saturated_sigmoid_and_healthy_tanh():
    net = net_of([{"units": 4, "activation": "sigmoid"}, {"units": 2, "activation": "tanh"}, {"units": 1}])
    net.blocks[0][0].W.value[...] = 50.0             # |net| >= 50 * |x1 + x2| >> 4: saturated
    X = np.array([[1.0, 1.0], [-1.0, -1.0], [0.5, 0.5], [-0.5, -0.5]])
    net.train_step_gradients(X, np.zeros((4, 1)))
    stats = [ActivationStats(), ActivationStats(), None]
    stats[0].add(net.blocks[0][1])
    stats[1].add(net.blocks[1][1])
    h = layer_health(net, stats=stats)
    assert h[0].saturated == 1.0 and "100% saturated units" in h[0].warnings
    assert h[1].saturated < 0.5


def test_update_ratio_of_one_sgd_step_by_hand():
    net = net_of([{"units": 1}], n_in=2)
    W = net.parameters()[0]
    W.value[...] = [[3.0], [4.0]]                      # ‖W‖ = 5
    X, Y = np.array([[1.0, 0.0]]), np.array([[0.0]])
    net.train_step_gradients(X, Y)                   # o = 3, dE/dW = x^T (o - y) = [[3], [0]]
    before = [[W.value.copy()]]
    W.value -= 0.1 * W.grad                          # one SGD step of lr 0.1: ‖ΔW‖ = 0.3
    h = layer_health(net, before=before)
    assert h[0].grad_norm == pytest.approx(3.0)
    assert h[0].update_ratio == pytest.approx(0.3 / 5)


def test_sparkline():
    assert sparkline([3, 2, 1]) == "█▅▁"         # the middle value: block 5 of 8
    assert sparkline([1, 1]) == "▁▁"
    assert sparkline([]) == ""
    assert len(sparkline(range(1, 1000), width=10)) == 10
    assert sparkline([100, 10, 1]) == "█▅▁"        # log scale: 10 sits halfway


def test_plain_lines_when_not_a_terminal(tmp_path):
    buf = io.StringIO()
    bar = ProgressBar(Console(file=buf, width=200), log_every=50)
    cfg = write(tmp_path / "c.yaml", XOR_YAML.replace("epochs: 2000", "epochs: 120").replace(
        "stopping: {target_loss: 0.01}", ""))
    api.train(cfg, runs_dir=tmp_path / "runs", callbacks=[bar])
    lines = buf.getvalue().splitlines()
    assert [ln.split()[1] for ln in lines] == ["1/120", "50/120", "100/120", "120/120"]
    assert "\r" not in buf.getvalue() and "\x1b" not in buf.getvalue()
    assert "loss" in lines[-1] and "(best" in lines[-1] and "lr 0.5" in lines[-1]
    assert bar.health.report_epoch == 120 and len(bar.health.report) == 2


def test_health_warning_lines_once(tmp_path):
    buf = io.StringIO()
    bar = ProgressBar(Console(file=buf, width=300), log_every=1000, health_every=5)
    cfg = write(tmp_path / "c.yaml", XOR_YAML.replace("epochs: 2000", "epochs: 30").replace(
        "lr: 0.5", "lr: 50.0").replace("stopping: {target_loss: 0.01}", ""))
    api.train(cfg, runs_dir=tmp_path / "runs", callbacks=[bar])
    warnings = [ln for ln in buf.getvalue().splitlines() if ln.startswith("warning:")]
    assert warnings and all("health at epoch" in w for w in warnings)
    assert len(warnings) == len(set(w.split(": ", 2)[2].split(" (")[0] + w.rsplit(": ", 1)[1].split(" (")[0]
                                    for w in warnings))


def test_live_view_renders_metrics_sparkline_and_health(tmp_path):
    buf = io.StringIO()
    bar = ProgressBar(Console(file=buf, width=160, force_terminal=True), live=True)
    cfg = write(tmp_path / "c.yaml", XOR_YAML.replace("epochs: 2000", "epochs: 40"))
    api.train(cfg, runs_dir=tmp_path / "runs", callbacks=[bar])
    out = buf.getvalue()
    assert "layer health at epoch 40" in out and "update/weight" in out and "(best" in out
    assert any(c in out for c in "▁▂▃▄▅▆▇█")


@pytest.mark.parametrize("figures,reference,warnings", [
    # each figure just inside its healthy range (gradients relative to the output layer's): no warning
    (dict(grad_norm=1.01e-3, update_ratio=1e-7, dead=0.5), 1.0, []),
    (dict(grad_norm=990.0, update_ratio=0.5, saturated=0.5), 1.0, []),
    # the relative bounds themselves: vanishing at <= 1/1000, exploding at >= 1000
    (dict(grad_norm=1e-3, update_ratio=None), 1.0, ["vanishing gradient (‖dE/dW‖ = 0.001, 0.001x the output layer's)"]),
    (dict(grad_norm=2e3, update_ratio=0.75, saturated=0.75), 2.0,
     ["exploding gradient (‖dE/dW‖ = 2e+03, 1e+03x the output layer's)",
      "steps too large (update/weight 0.75); lower lr", "75% saturated units"]),
    (dict(grad_norm=1e-9, update_ratio=1e-8, dead=0.75), 1.0,
     ["vanishing gradient (‖dE/dW‖ = 1e-09, 1e-09x the output layer's)",
      "weights barely move (update/weight 1e-08)", "75% dead ReLUs"]),
    # whatever the absolute size: tiny but like the output layer's is ok, 5 against 1e-3 explodes
    (dict(grad_norm=1e-12, update_ratio=None), 1e-11, []),
    (dict(grad_norm=5.0, update_ratio=None), 1e-3, ["exploding gradient (‖dE/dW‖ = 5, 5e+03x the output layer's)"]),
    # not finite, whatever the reference; a zero gradient vanishes even beside a zero output layer
    (dict(grad_norm=float("nan"), update_ratio=None), 1.0, ["gradient not finite (‖dE/dW‖ = nan)"]),
    (dict(grad_norm=float("inf"), update_ratio=None), float("nan"), ["gradient not finite (‖dE/dW‖ = inf)"]),
    (dict(grad_norm=0.0, update_ratio=None), 0.0, ["vanishing gradient (‖dE/dW‖ = 0)"]),
    # no usable reference (the output layer's is 0 or not finite): only non-finite is judged
    (dict(grad_norm=3.0, update_ratio=None), 0.0, []),
    (dict(grad_norm=3.0, update_ratio=None), float("inf"), []),
    (dict(grad_norm=3.0, update_ratio=None), None, []),
])
def test_warnings_start_beyond_the_healthy_ranges(figures, reference, warnings):
    from backprop_cli.training.health import LayerHealth
    h = LayerHealth(0, "layer", **figures).check(reference)
    assert h.warnings == warnings
    verdict = next((w.replace("gradient ", "").split(" (")[0].replace(" gradient", "") for w in warnings
                    if "gradient" in w), "ok")
    assert h.verdict == verdict


def test_activation_stats_accumulate_over_batches():
    from backprop_cli.engine.activations import ReLU, Sigmoid, Tanh
    relu = ReLU()
    s = ActivationStats()
    # 4 units: unit 0 active in batch 1 only, unit 1 in batch 2 only, units 2 and 3 never
    for active_unit in (0, 1):
        net = np.full((30, 4), -1.0)
        net[::3, active_unit] = 1.0
        relu.forward(net)
        s.add(relu)
    assert s.examples == 60 and s.dead_share() == 0.5
    for layer, low in ((Sigmoid(), 0.0), (Tanh(), -1.0)):
        s = ActivationStats()
        for y in ([[low + 0.01, 0.5], [0.5, 0.5]], [[0.5, 0.995], [0.5, 0.5]]):
            layer._y = np.array(y)
            s.add(layer)
        assert s.examples == 4 and s.values == 8 and s.saturated_share() == 2 / 8


def test_layer_health_names_each_layer_and_has_no_ratio_from_zero_weights():
    from backprop_cli.training.health import activation_of
    net = net_of([{"units": 3, "activation": "relu"}, {"units": 1}])
    assert activation_of(net.blocks[1]) is None
    X, Y = np.array([[0.5, -0.2]]), np.array([[1.0]])
    net.train_step_gradients(X, Y)
    zeros = [[np.zeros_like(p.value) for p in b if p.decay] for b in
             ([q for layer in blk for q in layer.parameters()] for blk in net.blocks)]
    h = layer_health(net, before=zeros)
    assert [x.index for x in h] == [0, 1]
    assert [x.title for x in h] == [" → ".join(map(repr, b)) for b in net.blocks]
    assert h[0].update_ratio is None and h[1].update_ratio is None
    for p in net.parameters():
        p.value[...] = 0.1  # ‖W‖² < 1
    small = [[p.value * 0.9 for p in layer_ws] for layer_ws in
             ([q for layer in blk for q in layer.parameters() if q.decay] for blk in net.blocks)]
    h = layer_health(net, before=small)  # ratio ‖W - 0.9 W‖ / ‖0.9 W‖ = 1/9
    assert h[0].update_ratio == pytest.approx(1 / 9)


def drive(monitor, net, epochs, batches, lr=0.0, first=1):
    """The trainer's calls around each epoch and batch, with one SGD step per batch, from
    epoch ``first`` (a resumed run's first epoch is not 1)."""
    from backprop_cli.training.callbacks import TrainState
    state = TrainState(network=net, optimizer=None, epochs=epochs)
    measured = []
    for epoch in range(first, epochs + 1):
        state.epoch = epoch
        monitor.on_epoch_begin(state)
        for X, Y in batches:
            net.train_step_gradients(X, Y)
            for p in net.parameters():
                p.value -= lr * p.grad
            monitor.on_batch_end(state)
        monitor.on_epoch_end(state)
        measured.append(monitor.report_epoch)
    return measured


def test_monitor_measures_the_first_and_every_nth_epoch_on_min_examples():
    from backprop_cli.training.health import HealthMonitor
    net = net_of([{"units": 2, "activation": "relu"}, {"units": 1}])
    net.blocks[0][0].W.value[...] = [[1.0, 0.0], [0.0, 1.0]]
    net.blocks[0][0].b.value[...] = [0.0, -1.0]
    # unit 1 is active only in the third batch of 128: within the first 256 examples it is dead
    batches = []
    for k in range(4):
        X = np.full((128, 2), -1.0)
        if k == 2:
            X[:, 1] = 10.0
        batches.append((X, np.zeros((128, 1))))
    m = HealthMonitor()
    assert m.report == [] and m.report_epoch is None  # nothing measured yet
    assert drive(m, net, 1, [batches[0], batches[2], batches[3]]) == [1]
    assert m.report[0].dead == 0.5  # the first 256 examples include unit 1's batch
    assert m.report[0].update_ratio == 0.0  # lr 0: measured, and the weights did not move
    m = HealthMonitor()  # an epoch of fewer than 256 examples is measured at its end
    assert drive(m, net, 1, batches[2:3]) == [1] and m.report[0].dead == 0.5
    m = HealthMonitor()
    measured = drive(m, net, 21, batches)
    assert measured == [1] * 9 + [10] * 10 + [20] * 2
    assert m.report_epoch == 20 and [h.index for h in m.report] == [0, 1]
    assert m.report[0].dead == 1.0  # both units dead over the first 256 examples
    m = HealthMonitor(every=3, min_examples=100)
    assert drive(m, net, 4, batches) == [1, 1, 3, 3]
    m = HealthMonitor(every=10)  # a run resumed after epoch 5: nothing before epoch 10
    assert drive(m, net, 12, batches, first=6) == [None] * 4 + [10] * 3
    with pytest.raises(ValueError, match="^health every must be >= 1, got 0$"):
        HealthMonitor(every=0)
    HealthMonitor(every=1)


def test_a_frozen_layer_has_no_update_ratio_and_no_warning_that_it_barely_moves():
    net = net_of([{"units": 3, "activation": "tanh", "freeze": True}, {"units": 1}])
    X, Y = np.array([[0.5, -0.2]]), np.array([[1.0]])
    net.train_step_gradients(X, Y)
    before = [[p.value.copy() for p in b if p.decay] for b in
              ([q for layer in blk for q in layer.parameters()] for blk in net.blocks)]
    for p in net.trainable_parameters():  # a step of the trainable layer only, as training does
        p.value -= 0.1 * p.grad
    frozen, trained = layer_health(net, before=before)
    assert frozen.update_ratio is None and not any("barely move" in w for w in frozen.warnings)
    assert trained.update_ratio is not None and trained.update_ratio > 0

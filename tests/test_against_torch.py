"""fastnn's optimizers and schedules against torch.optim itself: the same network, data
and batches trained by both for 200 updates must end at the same parameters (float64:
to 1e-9). Skipped when PyTorch is not installed (``pip install torch==2.13.0``)."""
import numpy as np
import pytest

import fastnn
from fastnn import schedules
from test_optimizers import CONFIGS

torch = pytest.importorskip("torch")

SIZES = [4, 6, 3]
N, BATCH = 20, 4            # 5 updates per epoch


def _data(loss):
    rng = np.random.default_rng(11)
    X = rng.standard_normal((N, SIZES[0]))
    if loss == "cce":
        return X, np.eye(SIZES[-1])[rng.integers(0, SIZES[-1], N)]
    return X, rng.uniform(0, 1, (N, SIZES[-1]))


def _torch_optimizer(opt, params):
    o = opt.options()
    lr = o.pop("learning_rate")
    decay_biases = o.pop("decay_biases", True)
    classes = {"sgd": torch.optim.SGD, "adam": torch.optim.Adam, "adamw": torch.optim.AdamW,
               "rmsprop": torch.optim.RMSprop, "adagrad": torch.optim.Adagrad,
               "rprop": torch.optim.Rprop}
    weights, biases = params[0::2], params[1::2]
    if decay_biases:
        groups = [{"params": params}]
    else:
        groups = [{"params": weights}, {"params": biases, "weight_decay": 0.0}]
    return classes[opt.name](groups, lr=lr, **o)


def _torch_scheduler(schedule, optimizer, epochs):
    lr_scheduler = torch.optim.lr_scheduler
    if isinstance(schedule, schedules.StepLR):
        return lr_scheduler.StepLR(optimizer, schedule.step_size, schedule.gamma)
    if isinstance(schedule, schedules.ExponentialLR):
        return lr_scheduler.ExponentialLR(optimizer, schedule.gamma)
    if isinstance(schedule, schedules.CosineAnnealingLR):
        warm = schedule.warmup_epochs
        t_max = schedule.T_max or epochs - warm
        cosine = lr_scheduler.CosineAnnealingLR(optimizer, t_max, schedule.eta_min)
        if not warm:
            return cosine
        linear = lr_scheduler.LinearLR(optimizer, schedule.warmup_start_factor, 1.0, warm)
        return lr_scheduler.SequentialLR(optimizer, [linear, cosine], milestones=[warm])
    if isinstance(schedule, schedules.ReduceLROnPlateau):
        return lr_scheduler.ReduceLROnPlateau(optimizer, factor=schedule.factor,
                                              patience=schedule.patience,
                                              threshold=schedule.threshold,
                                              cooldown=schedule.cooldown,
                                              min_lr=schedule.min_lr)
    return None


def _train_torch(net, X, Y, opt, loss, epochs, batch, schedule=None, clip_norm=None):
    params = []
    for W, b in zip(net.weights, net.biases):
        params += [torch.tensor(W, requires_grad=True), torch.tensor(b, requires_grad=True)]
    optimizer = _torch_optimizer(opt, params)
    scheduler = _torch_scheduler(schedule, optimizer, epochs)
    Xt, Yt = torch.tensor(X), torch.tensor(Y)
    rates = []
    for _ in range(epochs):
        rates.append(optimizer.param_groups[0]["lr"])
        total = 0.0
        for start in range(0, N, batch):
            a, y = Xt[start:start + batch], Yt[start:start + batch]
            for i in range(0, len(params), 2):
                z = a @ params[i] + params[i + 1]
                last = i == len(params) - 2
                a = z if last else torch.tanh(z)
            if loss == "cce":
                value = torch.nn.functional.cross_entropy(a, y)
            else:
                value = torch.mean((torch.sigmoid(a) - y) ** 2)
            optimizer.zero_grad()
            value.backward()
            if clip_norm:
                torch.nn.utils.clip_grad_norm_(params, clip_norm)
            optimizer.step()
            total += value.item() * len(y)
        if isinstance(scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
            scheduler.step(total / N)
        elif scheduler is not None:
            scheduler.step()
    return np.concatenate([p.detach().numpy().ravel() for p in params]), rates


def _network(loss, backend="compiled"):
    last = fastnn.Layer(SIZES[-1], "softmax" if loss == "cce" else "sigmoid")
    return fastnn.Network([SIZES[0], SIZES[1], last], activation="tanh", seed=3,
                          backend=backend)


@pytest.mark.parametrize("config", CONFIGS)
@pytest.mark.parametrize("loss", ["cce", "mse"])
def test_200_updates_agree_with_torch_optim(config, loss, backend):
    opt = CONFIGS[config]
    batch = N if opt.name == "rprop" else BATCH        # Rprop: full batches
    epochs = 200 if opt.name == "rprop" else 40        # 200 updates either way
    X, Y = _data(loss)
    expected, _ = _train_torch(_network(loss), X, Y, opt, loss, epochs, batch)
    ours = _network(loss, backend)
    ours.fit(X, Y, epochs=epochs, batch_size=batch, optimizer=opt, loss=loss, shuffle=False)
    np.testing.assert_allclose(ours.parameters, expected, rtol=0, atol=1e-9)
    assert ours.optimizer_state["step"] == 200


SCHEDULES = {
    "step": schedules.StepLR(step_size=7, gamma=0.5),
    "exponential": schedules.ExponentialLR(gamma=0.95),
    "cosine": schedules.CosineAnnealingLR(T_max=30, eta_min=1e-3),
    "cosine-whole-fit": schedules.CosineAnnealingLR(),
    "cosine-warmup": schedules.CosineAnnealingLR(warmup_epochs=5, warmup_start_factor=0.2),
    "plateau": schedules.ReduceLROnPlateau(factor=0.5, patience=1, threshold=0.02),
}


@pytest.mark.parametrize("case", SCHEDULES)
def test_schedules_agree_with_torch_lr_scheduler(case):
    schedule, opt = SCHEDULES[case], CONFIGS["adam"]
    X, Y = _data("cce")
    expected, rates = _train_torch(_network("cce"), X, Y, opt, "cce", 40, BATCH, schedule)
    net = _network("cce")
    history = net.fit(X, Y, epochs=40, batch_size=BATCH, optimizer=opt, shuffle=False,
                      schedule=schedule)
    np.testing.assert_allclose(history.learning_rate, rates, rtol=1e-12)
    np.testing.assert_allclose(net.parameters, expected, rtol=0, atol=1e-9)
    if case == "plateau":
        assert min(rates) < rates[0]


@pytest.mark.parametrize("config", ["sgd-momentum", "adam", "rmsprop-all"])
def test_gradient_clipping_agrees_with_clip_grad_norm(config):
    opt = CONFIGS[config]
    X, Y = _data("cce")
    expected, _ = _train_torch(_network("cce"), X, Y, opt, "cce", 40, BATCH, clip_norm=0.2)
    net = _network("cce")
    net.fit(X, Y, epochs=40, batch_size=BATCH, optimizer=opt, shuffle=False, clip_norm=0.2)
    np.testing.assert_allclose(net.parameters, expected, rtol=0, atol=1e-9)

"""Optimizers and schedules: the compiled rules against the reference, SPEC's first-step
facts, the tables that must agree, and the optimizer's state on a Network."""
import copy
import math
import pickle

import numpy as np
import pytest

import fastnn
from conftest import _kernels as K
from conftest import _reference as R
from conftest import assert_close
from fastnn import optimizers, schedules, training
from fastnn.optimizers import SGD, Adagrad, Adam, AdamW, RMSprop, Rprop
from helpers import LAYOUTS

#: Every optimizer and every option, each in at least one configuration.
CONFIGS = {
    "sgd": SGD(learning_rate=0.05),
    "sgd-momentum": SGD(learning_rate=0.05, momentum=0.9),
    "sgd-dampening": SGD(learning_rate=0.05, momentum=0.9, dampening=0.3),
    "sgd-nesterov": SGD(learning_rate=0.05, momentum=0.9, nesterov=True),
    "sgd-decay": SGD(learning_rate=0.05, weight_decay=0.01),
    "sgd-decay-weights-only": SGD(learning_rate=0.05, momentum=0.5, weight_decay=0.05,
                                  decay_biases=False),
    "adam": Adam(learning_rate=0.01),
    "adam-amsgrad": Adam(learning_rate=0.01, amsgrad=True),
    "adam-decay": Adam(learning_rate=0.01, weight_decay=0.01),
    "adam-betas": Adam(learning_rate=0.01, betas=(0.8, 0.99), eps=1e-6),
    "adamw": AdamW(learning_rate=0.01),
    "adamw-amsgrad": AdamW(learning_rate=0.01, amsgrad=True, weight_decay=0.1),
    "rmsprop": RMSprop(learning_rate=0.01),
    "rmsprop-centered": RMSprop(learning_rate=0.01, centered=True),
    "rmsprop-momentum": RMSprop(learning_rate=0.01, momentum=0.9),
    "rmsprop-all": RMSprop(learning_rate=0.01, alpha=0.9, centered=True, momentum=0.5,
                           weight_decay=0.01),
    "adagrad": Adagrad(learning_rate=0.05),
    "adagrad-all": Adagrad(learning_rate=0.05, lr_decay=0.01, weight_decay=0.01,
                           initial_accumulator_value=0.1, eps=1e-8),
    "rprop": Rprop(learning_rate=0.01),
    "rprop-options": Rprop(learning_rate=0.02, etas=(0.4, 1.3), step_sizes=(1e-4, 1.0)),
}


def test_the_compiled_tables_and_the_python_tables_agree():
    assert K.OPTIMIZERS == R.OPTIMIZERS == tuple(optimizers.OPTIMIZERS)
    assert K.HYPERPARAMETERS == R.HYPERPARAMETERS
    assert K.SCHEDULES == R.SCHEDULES
    compiled = {cls.compiled_name for cls in schedules.SCHEDULES.values()} - {None}
    assert compiled == set(K.SCHEDULES)
    assert K.STOP_REASONS == training.STOP_REASONS[:4]
    assert (K.STOP_EPOCHS, K.STOP_TARGET, K.STOP_DIVERGED) == (R.STOP_EPOCHS, R.STOP_TARGET,
                                                              R.STOP_DIVERGED) == (0, 1, 2)
    assert K.ACTIVATIONS == R.ACTIVATIONS
    assert K.LOSSES == tuple(R.LOSSES) == fastnn.validation.LOSSES
    for loss, (value, gradient, _) in R.LOSSES.items():
        assert callable(getattr(K, value)) and callable(getattr(K, gradient))
    for name, cls in optimizers.OPTIMIZERS.items():
        assert cls.name == name
        options = {k for k in cls.OPTIONS if k not in ("learning_rate",
                                                       "initial_accumulator_value")}
        flat = {n for k in options for n in optimizers._PAIRS.get(k, (k,))}
        assert flat <= set(K.HYPERPARAMETERS), (name, flat - set(K.HYPERPARAMETERS))


@pytest.mark.parametrize("sizes", [[1, 1], [2, 2, 1], [5, 7, 3], [64, 32, 10], [3, 1, 4, 1, 5]])
def test_one_parameter_layout(sizes):
    offsets = R.parameter_offsets(sizes)
    assert K.parameter_offsets(sizes) == offsets
    net = fastnn.Network(sizes, activation="tanh", seed=0)
    params = net.parameters
    assert offsets[-1] == params.shape[0]
    for l, (W, b) in enumerate(zip(net.weights, net.biases)):
        assert np.shares_memory(W, net._params) and W.ctypes.data == params[offsets[l]:].ctypes.data
        assert b.ctypes.data == params[offsets[l] + W.size:].ctypes.data
        assert offsets[l] + W.size + b.size == offsets[l + 1]


@pytest.mark.parametrize("config", CONFIGS)
@pytest.mark.parametrize("layout", ["contiguous", "read_only", "strided"])
def test_update_kernel_matches_the_reference_over_100_steps(config, layout, dtype):
    opt = CONFIGS[config]
    rng = np.random.default_rng(7)
    n, w_end = 37, 30                     # an odd size; the last 7 values are biases
    hyper = opt.hyperparameters()
    p = {k: rng.uniform(-1, 1, n).astype(dtype) for k in "KR"}
    p["R"][...] = p["K"]
    state = {k: opt.initial_state(n, dtype) for k in "KR"}
    for step in range(1, 101):
        g = rng.standard_normal(n).astype(dtype)
        K.optimizer_update(p["K"], LAYOUTS[layout](g), state["K"], opt.name, hyper,
                           opt.learning_rate, step, w_end)
        R.optimizer_update(p["R"], g, state["R"], opt.name, hyper, opt.learning_rate, step,
                           w_end)
    rtol = 1e-10 if dtype == np.float64 else 1e-4
    np.testing.assert_allclose(p["K"], p["R"], rtol=rtol, atol=rtol)
    np.testing.assert_allclose(state["K"], state["R"], rtol=rtol, atol=rtol)
    assert not np.array_equal(p["K"], rng.uniform(-1, 1, n))     # it moved


def _train(module, opt, dtype, epochs=20, batch_size=4, clip_norm=0.0, schedule=None,
           loss="cce", seed=3, counters=None, state=None, params=None):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((20, 4)).astype(dtype)
    if loss == "cce":
        Y, acts = np.eye(3, dtype=dtype)[rng.integers(0, 3, 20)], ["tanh", "softmax"]
    else:
        Y, acts = rng.uniform(0, 1, (20, 3)).astype(dtype), ["relu", "sigmoid"]
    sizes = [4, 5, 3]
    if params is None:
        params = np.random.default_rng(1).uniform(-0.5, 0.5, R.parameter_offsets(sizes)[-1])
        params = params.astype(dtype)
    if state is None:
        state = opt.initial_state(params.shape[0], dtype)
    counters = np.zeros(3, np.int64) if counters is None else counters
    name, sched = (schedule or schedules.Constant()).compiled(int(counters[1]), epochs)
    losses, rates = np.zeros(epochs), np.zeros(epochs)
    result = module.train_epochs(
        X, Y, params, sizes, acts, loss, batch_size, epochs, optimizer=opt.name,
        hyperparameters=opt.hyperparameters(), learning_rate=opt.learning_rate, state=state,
        counters=counters, schedule=name, schedule_parameters=sched, clip_norm=clip_norm,
        losses_out=losses, rates_out=rates)
    return result, params, state, counters, losses, rates


@pytest.mark.parametrize("config", CONFIGS)
@pytest.mark.parametrize("clip_norm", [0.0, 0.3], ids=["", "clipped"])
def test_train_epochs_matches_the_reference_over_100_steps(config, clip_norm, dtype):
    opt = CONFIGS[config]
    batch = 20 if opt.name == "rprop" else 4          # Rprop: full batches
    epochs = 100 if opt.name == "rprop" else 20       # 100 updates either way
    runs = [_train(m, opt, dtype, epochs, batch, clip_norm) for m in (K, R)]
    (result_k, params_k, state_k, counters_k, losses_k, _), (result_r, params_r, state_r,
                                                            counters_r, losses_r, _) = runs
    assert result_k == result_r == (epochs, 0)
    assert counters_k.tolist() == counters_r.tolist() == [100, epochs, 20 * epochs]
    rtol = 1e-10 if dtype == np.float64 else 2e-4
    np.testing.assert_allclose(losses_k, losses_r, rtol=rtol, atol=rtol)
    np.testing.assert_allclose(params_k, params_r, rtol=rtol, atol=rtol)
    np.testing.assert_allclose(state_k, state_r, rtol=rtol, atol=rtol)
    assert losses_k[-1] < losses_k[0]


def test_the_fused_sgd_path_and_the_gradient_buffer_path_give_the_same_numbers(dtype):
    runs = []
    for fused in (True, False):
        previous = K._set_fused_sgd(fused)
        try:
            runs.append(_train(K, SGD(learning_rate=0.1), dtype, loss="mse"))
        finally:
            K._set_fused_sgd(previous)
    assert_close(runs[0][1], runs[1][1], dtype)
    assert_close(runs[0][4], runs[1][4], dtype)


def test_network_gradient_matches_the_reference_and_finite_differences(dtype):
    rng = np.random.default_rng(0)
    net = fastnn.Network([4, 6, Layer := fastnn.Layer(3, "softmax")], activation="tanh",
                         dtype=dtype, seed=2)
    X, labels = rng.standard_normal((9, 4)), rng.integers(0, 3, 9)
    Y = np.eye(3, dtype=dtype)[labels]
    value_k, grad_k = K.network_gradient(X.astype(dtype), Y, net._params, net.layer_sizes,
                                         net.activations, "cce")
    value_r, grad_r = R.network_gradient(X.astype(dtype), Y, net._params, net.layer_sizes,
                                         net.activations, "cce")
    assert_close(grad_k, grad_r, dtype)
    assert math.isclose(value_k, value_r, rel_tol=1e-5 if dtype == np.float32 else 1e-12)
    assert Layer.size == 3
    if dtype == np.float64:
        numerical = fastnn.numerical_gradient(net, X, labels)
        np.testing.assert_allclose(grad_k, numerical, rtol=1e-6, atol=1e-9)


# -- SPEC.md section 10: first-step facts ----------------------------------------------

def _first_step(opt, g, p0=None):
    p = np.array([0.5, -0.25, 2.0, 1.0]) if p0 is None else p0.copy()
    state = opt.initial_state(4, np.float64)
    K.optimizer_update(p, g, state, opt.name, opt.hyperparameters(), opt.learning_rate, 1)
    return p


G = np.array([0.3, -2.0, 1e-3, 40.0])
P0 = np.array([0.5, -0.25, 2.0, 1.0])


def test_spec_first_steps():
    lr, mu = 0.1, 0.9
    np.testing.assert_allclose(_first_step(SGD(learning_rate=lr, momentum=mu), G), P0 - lr * G,
                               rtol=1e-15)
    np.testing.assert_allclose(_first_step(SGD(learning_rate=lr, momentum=mu, nesterov=True), G),
                               P0 - lr * (1 + mu) * G, rtol=1e-15)
    moved = _first_step(Adam(learning_rate=lr), G) - P0
    np.testing.assert_allclose(moved, -lr * np.sign(G) * np.abs(G) / (np.abs(G) + 1e-8),
                               rtol=1e-12)
    assert np.allclose(np.abs(moved[[0, 1, 3]]), lr, rtol=1e-6)   # every one by about lr
    lam = 0.2
    decayed = P0 * (1 - lr * lam)
    np.testing.assert_allclose(_first_step(AdamW(learning_rate=lr, weight_decay=lam), G),
                               decayed - lr * G / (np.abs(G) + 1e-8), rtol=1e-12)
    coupled = G + lam * P0
    np.testing.assert_allclose(_first_step(Adam(learning_rate=lr, weight_decay=lam), G),
                               P0 - lr * coupled / (np.abs(coupled) + 1e-8), rtol=1e-12)
    np.testing.assert_allclose(_first_step(Rprop(learning_rate=lr), G), P0 - lr * np.sign(G))


def test_spec_rprop_steps_grow_shrink_and_clip():
    opt = Rprop(learning_rate=0.1)
    p, state = P0.copy(), opt.initial_state(4, np.float64)
    update = lambda g, step: K.optimizer_update(p, g, state, "rprop", opt.hyperparameters(),  # noqa: E731
                                                0.1, step)
    update(G, 1)
    update(G, 2)                                  # same signs: steps grow by 1.2
    np.testing.assert_allclose(p, P0 - 0.1 * np.sign(G) - 0.12 * np.sign(G))
    before = p.copy()
    update(-G, 3)                                 # flipped: steps shrink by 0.5, no move
    np.testing.assert_array_equal(p, before)
    np.testing.assert_allclose(state[4:], 0.06)
    for step in range(4, 60):
        update(G, step)
    np.testing.assert_allclose(state[4:], 50.0)   # clipped at step_sizes' max


# -- schedules ---------------------------------------------------------------------------

SCHEDULE_CASES = {
    "constant": schedules.Constant(),
    "step": schedules.StepLR(step_size=3, gamma=0.5),
    "exponential": schedules.ExponentialLR(gamma=0.9),
    "cosine": schedules.CosineAnnealingLR(T_max=10, eta_min=0.001),
    "cosine-warmup": schedules.CosineAnnealingLR(T_max=8, warmup_epochs=4,
                                                 warmup_start_factor=0.25),
    "invscaling": schedules.InverseScaling(power_t=0.25),
}


@pytest.mark.parametrize("case", SCHEDULE_CASES)
def test_schedule_kernel_matches_the_reference(case):
    name, params = SCHEDULE_CASES[case].compiled(0, 30)
    for epoch in range(30):
        expected = R.learning_rate_at(name, params, 0.1, epoch, 50 * epoch)
        assert math.isclose(K.learning_rate_at(name, params, 0.1, epoch, 50 * epoch), expected,
                            rel_tol=1e-14)


def test_schedule_closed_forms():
    at = lambda s, e, samples=0: K.learning_rate_at(*s.compiled(0, 100), 0.1, e, samples)  # noqa: E731
    assert [at(SCHEDULE_CASES["step"], e) for e in (0, 2, 3, 6)] == [0.1, 0.1, 0.05, 0.025]
    assert math.isclose(at(SCHEDULE_CASES["exponential"], 3), 0.1 * 0.9 ** 3)
    cosine = SCHEDULE_CASES["cosine"]
    assert at(cosine, 0) == 0.1 and math.isclose(at(cosine, 10), 0.001)
    assert math.isclose(at(cosine, 5), 0.001 + 0.099 / 2)
    warm = SCHEDULE_CASES["cosine-warmup"]
    assert [round(at(warm, e), 12) for e in range(5)] == [0.025, 0.04375, 0.0625, 0.08125, 0.1]
    assert math.isclose(at(SCHEDULE_CASES["invscaling"], 1, 15), 0.1 / 16 ** 0.25)


def test_history_records_the_rate_of_each_epoch(backend):
    X, y = np.linspace(-1, 1, 8).reshape(-1, 1), np.linspace(0, 1, 8)
    net = fastnn.Network([1, 3, 1], activation="tanh", seed=0, backend=backend)
    history = net.fit(X, y, epochs=7, batch_size=2, optimizer="adam", learning_rate=0.01,
                      schedule={"name": "step", "step_size": 2, "gamma": 0.5})
    assert history.learning_rate == pytest.approx([0.01, 0.01, 0.005, 0.005, 0.0025, 0.0025,
                                                   0.00125])
    # a second fit continues the schedule (the optimizer's epochs)
    again = net.fit(X, y, epochs=2, batch_size=2, optimizer="adam", learning_rate=0.01,
                    schedule={"name": "step", "step_size": 2, "gamma": 0.5})
    assert again.learning_rate == pytest.approx([0.00125, 0.000625])
    assert net.optimizer_state["epoch"] == 9 and net.optimizer_state["step"] == 36
    plain = net.fit(X, y, epochs=3, learning_rate=0.2)
    assert plain.learning_rate == [0.2, 0.2, 0.2]


def test_reduce_on_plateau_lowers_the_rate_after_patience(backend):
    X = np.linspace(-1, 1, 16).reshape(-1, 1)
    y = np.sin(3 * X[:, 0])
    net = fastnn.Network([1, 8, 1], activation="tanh", output="tanh", seed=0,
                         backend=backend)
    # improvements of less than 5 % count as a plateau: the rate is halved now and then
    plateau = schedules.ReduceLROnPlateau(factor=0.5, patience=2, threshold=0.05)
    history = net.fit(X, y, epochs=40, learning_rate=0.5, batch_size=None, schedule=plateau)
    rates = history.learning_rate
    assert rates[0] == 0.5 and min(rates) < 0.5
    # replay torch's rule on the recorded losses
    state = plateau.start(0.5)
    expected = []
    for loss in history.loss:
        expected.append(state["rate"])
        plateau.step(state, loss)
    assert rates == expected


# -- the optimizer's state on a Network ------------------------------------------------

def _data():
    rng = np.random.default_rng(5)
    X = rng.standard_normal((24, 3))
    return X, (X[:, 0] > X[:, 1]).astype(int) + (X[:, 2] > 0)


def _net(backend="compiled", dtype=np.float64):
    return fastnn.Network([3, 6, fastnn.Layer(3, "softmax")], activation="tanh", seed=4,
                          backend=backend, dtype=dtype)


@pytest.mark.parametrize("config", CONFIGS)
def test_a_fit_split_over_calls_and_fits_is_bit_identical_to_one(config, backend):
    X, y = _data()
    opt = CONFIGS[config]
    batch = None if opt.name == "rprop" else 5
    one = _net(backend)
    h_one = one.fit(X, y, epochs=12, batch_size=batch, optimizer=opt, seed=1,
                    schedule="cosine" if "adam" in config else None)
    split = _net(backend)
    h_split = split.fit(X, y, epochs=12, batch_size=batch, optimizer=opt, seed=1, verbose=1,
                        schedule="cosine" if "adam" in config else None)
    assert h_split.loss == h_one.loss
    np.testing.assert_array_equal(split.parameters, one.parameters)
    # two fits of 6 continue the state: the same as one of 12 (without shuffling)
    a, b = _net(backend), _net(backend)
    a.fit(X, y, epochs=12, batch_size=batch, optimizer=opt, shuffle=False)
    b.fit(X, y, epochs=6, batch_size=batch, optimizer=opt, shuffle=False)
    b.fit(X, y, epochs=6, batch_size=batch, optimizer=opt, shuffle=False)
    np.testing.assert_array_equal(a.parameters, b.parameters)
    np.testing.assert_array_equal(a.optimizer_state["buffers"], b.optimizer_state["buffers"])


def test_reset_and_new_settings_start_a_fresh_state():
    X, y = _data()
    net = _net()
    net.fit(X, y, epochs=3, batch_size=4, optimizer="adam")
    assert net.optimizer_state["step"] == 18 and net.optimizer == Adam()
    start = net.parameters.copy()
    twin = _net()
    twin.parameters = start
    net.reset_optimizer()
    assert net.optimizer is None and net.optimizer_state is None
    net.fit(X, y, epochs=2, batch_size=4, optimizer="adam", shuffle=False)
    twin.fit(X, y, epochs=2, batch_size=4, optimizer="adam", shuffle=False)
    np.testing.assert_array_equal(net.parameters, twin.parameters)
    net.fit(X, y, epochs=1, batch_size=4, optimizer=Adam(amsgrad=True))   # other settings
    assert net.optimizer_state["step"] == 6 and net.optimizer.amsgrad
    net.fit(X, y, epochs=1, batch_size=4, optimizer=Adam(amsgrad=True), learning_rate=0.002)
    assert net.optimizer_state["step"] == 12 and net.optimizer.learning_rate == 0.002


def test_divergence_rolls_back_the_optimizer_state_with_the_parameters(backend):
    X = np.array([[1e3, -1e3], [-1e3, 2e3]])
    y = np.array([[1e3], [-1e3]])
    net = fastnn.Network([2, 8, 1], activation="identity", seed=0, backend=backend)
    with pytest.raises(fastnn.TrainingDivergedError) as info:
        net.fit(X, y, epochs=100, learning_rate=1e-3, optimizer={"name": "sgd", "momentum": 0.9},
                batch_size=1, shuffle=False)
    ran = info.value.history.epochs
    replay = fastnn.Network([2, 8, 1], activation="identity", seed=0, backend=backend)
    replay.fit(X, y, epochs=ran - 1, learning_rate=1e-3, optimizer={"name": "sgd", "momentum": 0.9},
               batch_size=1, shuffle=False)
    np.testing.assert_array_equal(net.parameters, replay.parameters)
    state, expected = net.optimizer_state, replay.optimizer_state
    assert (state["step"], state["epoch"]) == (expected["step"], expected["epoch"]) == (
        2 * (ran - 1), ran - 1)
    np.testing.assert_array_equal(state["buffers"], expected["buffers"])


BAD_SETTINGS = {
    "unknown optimizer": ({"optimizer": "lbfgs"}, ["optimizer", "'lbfgs'", "'adam'"]),
    "unknown option": ({"optimizer": {"name": "adam", "beta": 0.9}}, ["Adam", "'beta'", "betas"]),
    "unknown option, object": ({"optimizer": "sgd", "schedule": {"name": "step", "size": 2}},
                               ["StepLR", "'size'", "step_size"]),
    "missing option": ({"schedule": "step"}, ["StepLR", "step_size"]),
    "unknown schedule": ({"schedule": "warm"}, ["schedule", "'warm'", "'cosine'"]),
    "learning rate zero": ({"learning_rate": 0.0}, ["learning_rate", "> 0"]),
    "learning rate huge": ({"learning_rate": 10**400}, ["learning_rate"]),
    "optimizer rate negative": ({"optimizer": {"name": "adam", "learning_rate": -1}},
                                ["learning_rate", "> 0"]),
    "betas at 1": ({"optimizer": {"name": "adam", "betas": (0.9, 1.0)}}, ["betas[1]", "[0, 1)"]),
    "betas negative": ({"optimizer": {"name": "adamw", "betas": (-0.1, 0.9)}}, ["betas[0]"]),
    "betas not a pair": ({"optimizer": {"name": "adam", "betas": 0.9}}, ["betas", "pair"]),
    "weight decay negative": ({"optimizer": {"name": "sgd", "weight_decay": -1e-4}},
                              ["weight_decay", ">= 0"]),
    "nesterov without momentum": ({"optimizer": {"name": "sgd", "nesterov": True}},
                                  ["nesterov", "momentum"]),
    "flag not a bool": ({"optimizer": {"name": "adam", "amsgrad": "yes"}}, ["amsgrad", "True"]),
    "etas": ({"optimizer": {"name": "rprop", "etas": (1.5, 1.2)}, "batch_size": None},
             ["etas", "eta_minus"]),
    "clip zero": ({"clip_norm": 0}, ["clip_norm", "> 0"]),
    "clip nan": ({"clip_norm": float("nan")}, ["clip_norm"]),
    "rprop mini-batches": ({"optimizer": "rprop", "batch_size": 4}, ["rprop", "full batches"]),
    "plateau factor": ({"schedule": {"name": "plateau", "factor": 1.0}}, ["factor", "< 1"]),
}


@pytest.mark.parametrize("case", BAD_SETTINGS)
def test_bad_settings_raise_before_anything_changes(case):
    X, y = _data()
    net = _net()
    net.fit(X, y, epochs=2, batch_size=4, optimizer="adam")
    before = (net.parameters.copy(), net.history, net.optimizer_state)
    changes, words = BAD_SETTINGS[case]
    with pytest.raises(ValueError) as info:
        net.fit(X, y, **{"epochs": 2, "batch_size": 4, **changes})
    for word in words:
        assert word in str(info.value), str(info.value)
    np.testing.assert_array_equal(net.parameters, before[0])
    assert net.history is before[1]
    after = net.optimizer_state
    assert after["step"] == before[2]["step"] and after["optimizer"] == before[2]["optimizer"]
    np.testing.assert_array_equal(after["buffers"], before[2]["buffers"])


def test_optimizer_objects_check_their_options():
    with pytest.raises(ValueError, match="Adam has no option 'lr'; its options are learning_rate"):
        Adam(lr=0.1)
    with pytest.raises(ValueError, match=r"RMSprop: alpha must lie in \[0, 1\], got 1.5"):
        RMSprop(alpha=1.5)
    assert repr(Adam(learning_rate=0.01, amsgrad=True)) == "Adam(learning_rate=0.01, amsgrad=True)"
    assert optimizers.get({"name": "adamw", "weight_decay": 0.1}) == AdamW(weight_decay=0.1)
    assert optimizers.get(Adam(), learning_rate=0.5).learning_rate == 0.5
    assert AdamW().weight_decay == 0.01 and SGD().learning_rate == 0.01


# -- pickle and copy -------------------------------------------------------------------------

@pytest.mark.parametrize("how", ["pickle", "deepcopy", "copy"])
@pytest.mark.parametrize("trained", [False, True])
def test_a_network_round_trips_with_its_optimizer_state(how, trained, backend, dtype):
    X, y = _data()
    net = _net(backend, dtype)
    if trained:
        net.fit(X, y, epochs=3, batch_size=4, optimizer="adam", shuffle=False)
    clone = {"pickle": lambda n: pickle.loads(pickle.dumps(n)), "deepcopy": copy.deepcopy,
             "copy": copy.copy}[how](net)
    assert repr(clone) == repr(net)
    np.testing.assert_array_equal(clone.predict(X), net.predict(X))
    assert not np.shares_memory(clone._params, net._params)
    assert all(np.shares_memory(W, clone._params) for W in clone.weights)
    if trained:
        assert not np.shares_memory(clone._state.buffers, net._state.buffers)
        assert clone.history.loss == net.history.loss
    # an equal continuation
    for n in (net, clone):
        n.fit(X, y, epochs=2, batch_size=4, optimizer="adam", shuffle=False)
    np.testing.assert_array_equal(clone.parameters, net.parameters)
    np.testing.assert_array_equal(clone.optimizer_state["buffers"],
                                  net.optimizer_state["buffers"])


@pytest.mark.parametrize("joblib_backend", ["loky", "multiprocessing", "threading"])
def test_joblib_trains_networks_in_workers(joblib_backend):
    joblib = pytest.importorskip("joblib")
    X, y = _data()

    nets = [_net() for _ in range(2)]
    for net in nets:
        net.fit(X, y, epochs=2, batch_size=4, optimizer="adam")
    with joblib.parallel_config(backend=joblib_backend, n_jobs=2):
        done = joblib.Parallel()(joblib.delayed(_continue)(net, X, y) for net in nets)
    for mine, theirs in zip(map(_continue, nets, [X] * 2, [y] * 2), done):
        np.testing.assert_array_equal(mine.parameters, theirs.parameters)
        assert mine.optimizer_state["step"] == theirs.optimizer_state["step"] == 18


def _continue(net, X, y):
    net = copy.deepcopy(net)
    net.fit(X, y, epochs=1, batch_size=4, optimizer="adam", shuffle=False)
    return net

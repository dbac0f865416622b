"""Optimizers against PyTorch's documented update rules, step by step, in float64."""
import copy

import numpy as np
import pytest

from lorabook import nn, optim
from lorabook.nn import functional as F

# A fixed gradient sequence (independent of the parameter), three steps.
P0 = np.array([[0.5, -1.0, 2.0], [0.0, 3.0, -0.25]])
GRADS = [
    np.array([[0.1, -0.2, 0.3], [1.0, 0.0, -0.5]]),
    np.array([[-0.3, 0.1, 0.3], [0.5, 2.0, -0.5]]),
    np.array([[0.2, 0.2, -0.1], [-1.0, 0.5, 0.25]]),
]


def run(optimizer_class, grads=GRADS, **options):
    """Parameter values after each step of `optimizer_class` fed `grads`."""
    param = nn.Parameter(P0.copy())
    optimizer = optimizer_class([param], **options)
    history = []
    for grad in grads:
        param.grad = grad.copy()
        optimizer.step()
        history.append(param.data.copy())
    return history


# ----- reference rules, written from PyTorch's documentation pseudo-code ------------
def sgd_reference(lr, momentum=0.0, dampening=0.0, weight_decay=0.0, nesterov=False):
    p, buffer, history = P0.copy(), None, []
    for t, grad in enumerate(GRADS, start=1):
        g = grad + weight_decay * p
        if momentum != 0:
            buffer = g.copy() if t == 1 else momentum * buffer + (1 - dampening) * g
            g = g + momentum * buffer if nesterov else buffer
        p = p - lr * g
        history.append(p)
    return history


def adam_reference(lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, decoupled=False):
    beta1, beta2 = betas
    p, m, v, history = P0.copy(), np.zeros_like(P0), np.zeros_like(P0), []
    for t, grad in enumerate(GRADS, start=1):
        g = grad.copy()
        if decoupled:
            p = p * (1 - lr * weight_decay)
        else:
            g = g + weight_decay * p
        m = beta1 * m + (1 - beta1) * g
        v = beta2 * v + (1 - beta2) * g**2
        m_hat = m / (1 - beta1**t)
        v_hat = v / (1 - beta2**t)
        p = p - lr * m_hat / (np.sqrt(v_hat) + eps)
        history.append(p)
    return history


def assert_histories_equal(got, expected):
    for step, (a, b) in enumerate(zip(got, expected), start=1):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-15, err_msg=f"after step {step}")


def test_sgd_momentum_known_numbers():
    # One scalar by hand: b = 1, 0.9*1 + 2 = 2.9, 0.9*2.9 + 3 = 5.61; p = 1 - 0.1 * b each step.
    param = nn.Parameter(np.array([1.0]))
    optimizer = optim.SGD([param], lr=0.1, momentum=0.9)
    values = []
    for g in (1.0, 2.0, 3.0):
        param.grad = np.array([g])
        optimizer.step()
        values.append(param.data[0])
    np.testing.assert_allclose(values, [0.9, 0.61, 0.049], rtol=1e-12)


@pytest.mark.parametrize(
    "options",
    [
        dict(lr=0.1),
        dict(lr=0.1, momentum=0.9),
        dict(lr=0.1, momentum=0.9, dampening=0.5),
        dict(lr=0.1, momentum=0.9, nesterov=True),
        dict(lr=0.1, weight_decay=0.01),
        dict(lr=0.05, momentum=0.8, weight_decay=0.1, nesterov=True),
    ],
    ids=["plain", "momentum", "dampening", "nesterov", "weight_decay", "all"],
)
def test_sgd_follows_pytorch_rule(options):
    assert_histories_equal(run(optim.SGD, **options), sgd_reference(**options))


def test_adam_first_step_moves_by_lr_times_sign():
    # m_hat = g and v_hat = g^2 after one step, so the step is lr * g / (|g| + eps).
    history = run(optim.Adam, grads=GRADS[:1], lr=0.01)
    np.testing.assert_allclose(history[0], P0 - 0.01 * GRADS[0] / (np.abs(GRADS[0]) + 1e-8), rtol=1e-12)


@pytest.mark.parametrize(
    "options",
    [dict(lr=0.01), dict(lr=0.01, weight_decay=0.1), dict(lr=0.2, betas=(0.5, 0.6), eps=1e-3)],
    ids=["default", "weight_decay", "betas_eps"],
)
def test_adam_follows_pytorch_rule(options):
    assert_histories_equal(run(optim.Adam, **options), adam_reference(**options))


@pytest.mark.parametrize("options", [dict(lr=0.01), dict(lr=0.1, weight_decay=0.5)], ids=["default_decay", "strong_decay"])
def test_adamw_decays_weights_decoupled(options):
    expected = adam_reference(decoupled=True, **{"weight_decay": 1e-2, **options})
    assert_histories_equal(run(optim.AdamW, **options), expected)


def test_adam_and_adamw_differ_when_decay_is_on():
    coupled = run(optim.Adam, lr=0.1, weight_decay=0.5)[-1]
    decoupled = run(optim.AdamW, lr=0.1, weight_decay=0.5)[-1]
    assert np.abs(coupled - decoupled).max() > 1e-3


def test_defaults_match_pytorch():
    p = nn.Parameter(np.ones(1))
    assert optim.Adam([p]).defaults == dict(lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0)
    assert optim.AdamW([p]).defaults["weight_decay"] == 1e-2
    sgd = optim.SGD([p]).defaults
    assert (sgd["momentum"], sgd["dampening"], sgd["weight_decay"], sgd["nesterov"]) == (0.0, 0.0, 0.0, False)


def test_param_groups_use_their_own_lr_and_weight_decay():
    a, b = nn.Parameter(np.ones(2)), nn.Parameter(np.ones(2))
    optimizer = optim.SGD([{"params": [a]}, {"params": [b], "lr": 1.0, "weight_decay": 0.5}], lr=0.1)
    a.grad, b.grad = np.array([1.0, 2.0]), np.array([1.0, 2.0])
    optimizer.step()
    np.testing.assert_allclose(a.data, [0.9, 0.8])  # 1 - 0.1 * g
    np.testing.assert_allclose(b.data, [-0.5, -1.5])  # 1 - 1.0 * (g + 0.5 * 1)
    assert [g["lr"] for g in optimizer.param_groups] == [0.1, 1.0]
    optimizer.param_groups[0]["lr"] = 0.0  # changing a group's lr (a scheduler) takes effect
    optimizer.step()
    np.testing.assert_allclose(a.data, [0.9, 0.8])


def test_add_param_group_later():
    a, b = nn.Parameter(np.ones(1)), nn.Parameter(np.ones(1))
    optimizer = optim.Adam([a], lr=0.1)
    optimizer.add_param_group({"params": [b], "lr": 0.5})
    a.grad, b.grad = np.array([1.0]), np.array([1.0])
    optimizer.step()
    np.testing.assert_allclose([a.data[0], b.data[0]], [0.9, 0.5], rtol=1e-6)


def test_frozen_parameter_gets_no_state_and_never_changes():
    frozen = nn.Parameter(np.ones(3), requires_grad=False)
    trained = nn.Parameter(np.ones(3))
    optimizer = optim.Adam([frozen, trained], lr=0.1, weight_decay=0.1)
    for _ in range(3):
        frozen.grad = np.ones(3)  # even a stray gradient must not move it
        trained.grad = np.ones(3)
        optimizer.step()
    np.testing.assert_array_equal(frozen.data, np.ones(3))
    assert frozen not in optimizer.state
    assert not np.allclose(trained.data, 1.0)
    assert optimizer.state_nbytes() == 2 * trained.data.nbytes  # Adam's m and v, for `trained` only


def test_a_parameter_unfrozen_after_the_optimizer_is_built_starts_training():
    # PyTorch keeps frozen parameters in the groups, so gradual unfreezing works.
    model = nn.MLP([2, 3, 1])
    model[0].requires_grad_(False)
    optimizer = optim.SGD(model.parameters(), lr=0.1)
    before = model[0].weight.data.copy()
    model[0].requires_grad_(True)
    model(np.ones((4, 2), dtype=np.float32)).sum().backward()
    optimizer.step()
    assert not np.array_equal(model[0].weight.data, before)


def test_zero_grad_can_keep_zeroed_arrays():
    p = nn.Parameter(np.ones(3))
    optimizer = optim.SGD([p], lr=0.1)
    p.grad = np.ones(3)
    optimizer.zero_grad(set_to_none=False)
    np.testing.assert_array_equal(p.grad, np.zeros(3))
    optimizer.zero_grad()
    assert p.grad is None


def test_parameter_without_gradient_is_skipped():
    a, b = nn.Parameter(np.ones(2)), nn.Parameter(np.ones(2))
    optimizer = optim.SGD([a, b], lr=0.1, momentum=0.9, weight_decay=0.1)
    a.grad = np.ones(2)
    optimizer.step()
    np.testing.assert_array_equal(b.data, np.ones(2))  # weight decay alone does not move it
    assert b not in optimizer.state


def test_adam_state_bytes_are_two_arrays_per_trainable_parameter():
    model = nn.MLP([8, 16, 4], generator=0)  # float32
    model[0].requires_grad_(False)  # freeze the first layer, as LoRA freezes the base weights
    trainable = [p for p in model.parameters() if p.requires_grad]
    assert sum(p.size for p in trainable) == 16 * 4 + 4
    optimizer = optim.Adam(model.parameters(), lr=1e-3)
    assert optimizer.state_nbytes() == 0
    for p in trainable:
        p.grad = np.ones_like(p.data)
    optimizer.step()
    assert optimizer.state_nbytes() == 2 * (16 * 4 + 4) * 4


def test_sgd_momentum_state_bytes():
    p = nn.Parameter(np.ones((3, 5)))
    optimizer = optim.SGD([p], lr=0.1, momentum=0.9)
    p.grad = np.ones((3, 5))
    optimizer.step()
    assert optimizer.state_nbytes() == 15 * 8
    assert optim.SGD([p], lr=0.1).state_nbytes() == 0


def test_zero_grad_and_state_dict():
    a, b = nn.Parameter(np.ones(2)), nn.Parameter(np.ones(3))
    optimizer = optim.Adam([{"params": [a]}, {"params": [b], "lr": 0.5}], lr=0.1)
    a.grad, b.grad = np.ones(2), np.ones(3)
    optimizer.step()
    state = optimizer.state_dict()
    assert [g["params"] for g in state["param_groups"]] == [[0], [1]]
    assert [g["lr"] for g in state["param_groups"]] == [0.1, 0.5]
    assert state["state"][1]["step"] == 1
    state["state"][0]["exp_avg"][...] = 123.0  # a copy, not the live buffer
    assert not np.any(optimizer.state[a]["exp_avg"] == 123.0)
    optimizer.zero_grad()
    assert a.grad is None and b.grad is None


# ----- bad input ----------------------------------------------------------------------
def test_empty_list_is_refused():
    with pytest.raises(ValueError, match="SGD got an empty parameter list"):
        optim.SGD([], lr=0.1)


def test_only_frozen_parameters_are_refused():
    model = nn.MLP([2, 3, 1]).requires_grad_(False)
    with pytest.raises(ValueError, match="Adam got 4 parameter\\(s\\), all with requires_grad=False"):
        optim.Adam(model.parameters())


def test_a_module_instead_of_its_parameters_is_refused_with_a_hint():
    with pytest.raises(TypeError, match=r"got the module Linear; did you mean Adam\(model.parameters\(\), ...\)"):
        optim.Adam(nn.Linear(2, 3))


def test_a_single_parameter_must_be_wrapped_in_a_list():
    with pytest.raises(TypeError, match=r"single Parameter; wrap it in a list"):
        optim.SGD(nn.Parameter(np.ones((2, 2))), lr=0.1)


def test_the_same_parameter_twice_is_refused():
    p = nn.Parameter(np.ones(2))
    with pytest.raises(ValueError, match="more than once"):
        optim.Adam([{"params": [p]}, {"params": [p], "lr": 0.1}])
    with pytest.raises(ValueError, match="more than once"):
        optim.SGD([p, p], lr=0.1)


@pytest.mark.parametrize(
    "make, error, pattern",
    [
        (lambda p: optim.SGD([p], lr=-0.1), ValueError, r"lr must be in \[0.0, inf.*got -0.1"),
        (lambda p: optim.Adam([p], lr=-1), ValueError, "lr must be in.*got -1"),
        (lambda p: optim.SGD([p], lr="fast"), TypeError, "lr must be a real number, got 'fast'"),
        (lambda p: optim.SGD([{"params": [p], "lr": -1.0}], lr=0.1), ValueError, "lr must be in.*got -1.0"),
        (lambda p: optim.SGD([p], lr=0.1, momentum=-0.5), ValueError, "momentum must be in.*got -0.5"),
        (lambda p: optim.SGD([p], lr=0.1, weight_decay=-1e-4), ValueError, "weight_decay must be in.*got -0.0001"),
        (lambda p: optim.Adam([p], betas=(1.0, 0.999)), ValueError, r"betas\[0\] must be in \[0.0, 1.0\), got 1.0"),
        (lambda p: optim.Adam([p], betas=(0.9, -0.1)), ValueError, r"betas\[1\] must be in \[0.0, 1.0\), got -0.1"),
        (lambda p: optim.AdamW([{"params": [p], "betas": (0.9, 1.5)}]), ValueError, r"betas\[1\].*got 1.5"),
        (lambda p: optim.Adam([p], eps=-1e-8), ValueError, "eps must be in.*got -1e-08"),
        (lambda p: optim.Adam([p], betas=(0.9,)), ValueError, r"betas must be a pair \(beta1, beta2\).*got \(0.9,\)"),
        (lambda p: optim.AdamW([p], betas=(0.9, 0.99, 0.999)), ValueError, r"betas must be a pair.*got \(0.9, 0.99, 0.999\)"),
        (lambda p: optim.Adam([p], betas=0.9), TypeError, r"betas must be a pair.*got 0.9"),
        (lambda p: optim.AdamW([{"params": [p], "betas": (0.9,)}]), ValueError, r"betas must be a pair"),
        (lambda p: optim.Adam([p], betas=("a", 0.9)), TypeError, r"betas\[0\] must be a real number, got 'a'"),
        (lambda p: optim.AdamW([p], eps=float("nan")), ValueError, "eps must be finite, got nan"),
        (lambda p: optim.AdamW([p], weight_decay=None), TypeError, "weight_decay must be a real number, got None"),
        (lambda p: optim.SGD([p], lr=0.1, momentum=0.9, nesterov="yes"), TypeError, "nesterov must be True or False, got 'yes'"),
        (lambda p: optim.SGD([p], lr=0.1, dampening=float("inf")), ValueError, "dampening must be finite"),
        (lambda p: optim.SGD([p], lr=float("nan")), ValueError, "lr must be finite"),
        (lambda p: optim.Adam([{"params": [p], "momentum": 0.9}]), ValueError, r"unknown option\(s\) \['momentum'\] for Adam"),
        (lambda p: optim.SGD([p], lr=0.1, nesterov=True), ValueError, "nesterov=True needs momentum > 0.*momentum=0.0"),
        (lambda p: optim.SGD([p], lr=0.1, momentum=0.9, dampening=0.1, nesterov=True), ValueError, "dampening = 0.*dampening=0.1"),
        (lambda p: optim.SGD([{"params": [p], "nesterov": True}], lr=0.1), ValueError, "nesterov=True needs momentum > 0"),
        (lambda p: optim.SGD([{"lr": 0.1}], lr=0.1), TypeError, "'params' entry"),
        (lambda p: optim.SGD([np.ones(2)], lr=0.1), TypeError, "must be Tensors/Parameters, got ndarray"),
    ],
)
def test_bad_settings_name_the_argument(make, error, pattern):
    with pytest.raises(error, match=pattern):
        make(nn.Parameter(np.ones(2)))


# ----- resuming: load_state_dict ---------------------------------------------------------
def train_steps(model, optimizer, steps, seed):
    rng = np.random.default_rng(seed)
    for _ in range(steps):
        optimizer.zero_grad()
        F.mse_loss(model(rng.standard_normal((8, 3))), rng.standard_normal((8, 2))).backward()
        optimizer.step()


@pytest.mark.parametrize("make", [
    lambda params: optim.Adam(params, lr=0.01),
    lambda params: optim.AdamW(params, lr=0.01, weight_decay=0.1),
    lambda params: optim.SGD(params, lr=0.05, momentum=0.9, nesterov=True),
])
def test_a_resumed_optimizer_continues_exactly_where_the_first_left_off(make):
    model = nn.MLP([3, 5, 2], generator=0, dtype=np.float64)
    optimizer = make(model.parameters())
    train_steps(model, optimizer, 3, seed=1)
    resumed_model = copy.deepcopy(model)
    resumed = make(resumed_model.parameters())
    resumed.load_state_dict(optimizer.state_dict())
    train_steps(model, optimizer, 2, seed=2)
    train_steps(resumed_model, resumed, 2, seed=2)
    for (name, a), (_, b) in zip(model.named_parameters(), resumed_model.named_parameters()):
        np.testing.assert_array_equal(a.data, b.data, err_msg=name)


def test_load_state_dict_copies_and_replaces_hyper_parameters():
    p = nn.Parameter(np.ones(2))
    source = optim.Adam([p], lr=0.5)
    p.grad = np.ones(2)
    source.step()
    target = optim.Adam([nn.Parameter(np.ones(2))], lr=0.1)
    target.load_state_dict(source.state_dict())
    assert target.param_groups[0]["lr"] == 0.5
    (entry,) = target.state.values()
    assert entry["step"] == 1 and entry["exp_avg"] is not source.state[p]["exp_avg"]


@pytest.mark.parametrize("build, message", [
    (lambda: optim.Adam([nn.Parameter(np.ones(2)), nn.Parameter(np.ones(1))]),
     r"state_dict has groups of \[1\] parameters, this Adam has \[2\]"),
    (lambda: optim.Adam([nn.Parameter(np.ones(3))]),
     r"'exp_avg' for parameter 0 has shape \(2,\), the parameter has shape \(3,\)"),
])
def test_load_state_dict_refuses_a_state_for_other_parameters(build, message):
    p = nn.Parameter(np.ones(2))
    source = optim.Adam([p])
    p.grad = np.ones(2)
    source.step()
    with pytest.raises(ValueError, match=message):
        build().load_state_dict(source.state_dict())

"""Module: registration, walking the tree, modes, Dropout, repr."""
import numpy as np
import pytest

from lorabook import nn


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 3, generator=0)
        self.scale = nn.Parameter(np.ones(3))
        self.head = nn.Sequential(nn.ReLU(), nn.Linear(3, 2, generator=1))
        self.note = "plain attributes are not registered"

    def forward(self, x):
        return self.head(self.fc(x) * self.scale)


def test_attribute_assignment_registers_parameters_and_submodules():
    net = Net()
    assert list(net._parameters) == ["scale"]
    assert list(net._modules) == ["fc", "head"]
    # PyTorch's order: a module's own parameters, then each submodule's, depth first.
    assert [name for name, _ in net.named_parameters()] == [
        "scale", "fc.weight", "fc.bias", "head.1.weight", "head.1.bias",
    ]
    assert len(list(net.parameters())) == 5
    assert net.fc is net._modules["fc"]  # registered things stay ordinary attributes


def test_sequential_and_mlp_names_match_pytorch():
    seq = nn.Sequential(nn.Linear(2, 3), nn.Tanh(), nn.Linear(3, 1))
    assert [n for n, _ in seq.named_parameters()] == ["0.weight", "0.bias", "2.weight", "2.bias"]
    mlp = nn.MLP([64, 128, 128, 10], generator=0)
    linear_names = [name for name, m in mlp.named_modules() if isinstance(m, nn.Linear)]
    assert linear_names == ["0", "2", "4"]
    assert [type(m).__name__ for m in mlp.children()] == ["Linear", "ReLU", "Linear", "ReLU", "Linear"]
    with_dropout = nn.MLP([4, 8, 8, 2], dropout=0.1, generator=0)
    assert [n for n, m in with_dropout.named_modules() if isinstance(m, nn.Linear)] == ["0", "3", "6"]


def test_slicing_a_sequential_keeps_the_names_and_shares_the_layers():
    mlp = nn.MLP([4, 8, 8, 2], generator=0)
    features = mlp[:-1]
    assert type(features) is nn.Sequential
    assert [name for name, _ in features.named_children()] == ["0", "1", "2", "3"]
    assert features[0] is mlp[0] and mlp[-1] is mlp[4]
    x = np.ones((3, 4), dtype=np.float32)
    np.testing.assert_array_equal(mlp[-1](features(x)).data, mlp(x).data)
    assert [name for name, _ in mlp[2:].named_children()] == ["2", "3", "4"]  # as in PyTorch
    layers = nn.ModuleList([nn.ReLU(), nn.Tanh(), nn.GELU()])
    assert type(layers[1:]) is nn.ModuleList and [n for n, _ in layers[1:].named_children()] == ["0", "1"]


def test_named_modules_is_depth_first_with_dotted_names():
    net = Net()
    assert [name for name, _ in net.named_modules()] == ["", "fc", "head", "head.0", "head.1"]
    assert [name for name, _ in net.named_children()] == ["fc", "head"]
    assert net.get_submodule("head.1") is net.head[1]
    with pytest.raises(AttributeError, match="no submodule 'nope'"):
        net.get_submodule("head.nope")


def test_shared_parameter_and_module_listed_once():
    layer = nn.Linear(3, 3, generator=0)
    seq = nn.Sequential(layer, nn.ReLU(), layer)
    assert [n for n, _ in seq.named_parameters()] == ["0.weight", "0.bias"]
    assert [n for n, _ in seq.named_modules()] == ["", "0", "1"]

    tied = Net()
    tied.other = tied.scale  # the same Parameter under a second name
    params = list(tied.parameters())
    assert len(params) == 5
    assert len({id(p) for p in params}) == 5


def test_zero_grad_sets_every_grad_to_none():
    net = Net()
    net(np.ones((2, 4), dtype=np.float32)).sum().backward()
    assert all(p.grad is not None for p in net.parameters())
    net.zero_grad(set_to_none=False)
    assert all(p.grad is not None and not p.grad.any() for p in net.parameters())
    net.zero_grad()
    assert all(p.grad is None for p in net.parameters())


def test_train_and_eval_reach_every_submodule():
    model = nn.Sequential(nn.Linear(2, 2), nn.Sequential(nn.Dropout(0.5), nn.ReLU()))
    assert model.eval() is model
    assert [m.training for m in model.modules()] == [False] * 5
    model.train()
    assert [m.training for m in model.modules()] == [True] * 5
    model.train(False)
    assert not any(m.training for m in model.modules())


def test_dropout_is_identity_in_eval_and_drops_about_p_in_train():
    x = np.ones((200, 100), dtype=np.float32)
    drop = nn.Dropout(0.3, generator=np.random.default_rng(0))
    out = drop(x).data
    dropped = np.mean(out == 0)
    assert abs(dropped - 0.3) < 0.02  # 20,000 draws: std of the fraction is 0.003
    np.testing.assert_allclose(out[out != 0], 1 / 0.7, rtol=1e-6)  # kept units are rescaled
    drop.eval()
    y = drop(x)
    np.testing.assert_array_equal(y.data, x)


def test_dropout_same_seed_same_mask_and_fresh_mask_each_call():
    x = np.ones(1000, dtype=np.float32)
    first = nn.Dropout(0.5, generator=7)
    second = nn.Dropout(0.5, generator=np.random.default_rng(7))
    a1, a2 = first(x).data, first(x).data
    np.testing.assert_array_equal(a1, second(x).data)
    np.testing.assert_array_equal(a2, second(x).data)
    assert not np.array_equal(a1, a2)  # an int seed must not re-seed on every call


def test_dropout_gradient_uses_the_same_mask():
    import lorabook as lb

    x = lb.tensor(np.ones(50), requires_grad=True, dtype=np.float64)
    out = nn.Dropout(0.5, generator=1)(x)
    out.sum().backward()
    np.testing.assert_array_equal(x.grad, out.data)  # d(sum(x*mask))/dx = mask = out for x = 1


def test_replacing_a_submodule_updates_the_registry():
    net = Net()
    old_names = [n for n, _ in net.named_parameters()]
    net.fc = nn.Linear(4, 3, bias=False)
    assert [n for n, _ in net.named_parameters()] == [n for n in old_names if n != "fc.bias"]
    net.head = nn.Identity()
    assert [n for n, _ in net.named_parameters()] == ["scale", "fc.weight"]
    net.head = None  # assigning a non-module removes it from the registry
    assert "head" not in net._modules
    del net.scale
    assert [n for n, _ in net.named_parameters()] == ["fc.weight"]


def test_assigning_a_plain_array_to_a_parameter_raises():
    net = Net()
    with pytest.raises(TypeError, match="'scale'.*Parameter"):
        net.scale = np.zeros(3)
    assert isinstance(net.scale, nn.Parameter)  # unchanged
    net.scale = None
    assert "scale" not in dict(net.named_parameters())


def test_assigning_before_super_init_raises_clearly():
    class Forgetful(nn.Module):
        def __init__(self):
            self.fc = nn.Linear(2, 2)

    with pytest.raises(AttributeError, match=r"super\(\).__init__\(\).*Forgetful"):
        Forgetful()


def test_parameter_must_be_floating_point():
    assert nn.Parameter(np.arange(3)).dtype == np.float32  # integers become float32, as torch does
    with pytest.raises(TypeError, match="floating-point.*int64"):
        nn.Parameter(np.arange(3), dtype=np.int64)


def test_sequential_and_module_list_reject_non_modules():
    with pytest.raises(TypeError, match="Sequential: item 1 must be a Module, got function"):
        nn.Sequential(nn.ReLU(), lambda x: x)
    layers = nn.ModuleList([nn.ReLU()])
    with pytest.raises(TypeError, match="ModuleList: item 1 must be a Module, got ndarray"):
        layers.append(np.zeros(2))
    assert len(layers) == 1


def test_repr_matches_pytorch_text():
    model = nn.MLP([2, 3, 1], dropout=0.1, generator=0)
    assert repr(model) == (
        "MLP(\n"
        "  (0): Linear(in_features=2, out_features=3, bias=True)\n"
        "  (1): ReLU()\n"
        "  (2): Dropout(p=0.1)\n"
        "  (3): Linear(in_features=3, out_features=1, bias=True)\n"
        ")"
    )
    nested = nn.Sequential(nn.Linear(2, 2, bias=False), nn.Sequential(nn.Tanh()))
    assert repr(nested) == (
        "Sequential(\n"
        "  (0): Linear(in_features=2, out_features=2, bias=False)\n"
        "  (1): Sequential(\n"
        "    (0): Tanh()\n"
        "  )\n"
        ")"
    )


def test_requires_grad_freezes_every_parameter():
    net = Net().requires_grad_(False)
    assert not any(p.requires_grad for p in net.parameters())


def test_module_list_and_dict_register_children():
    layers = nn.ModuleList([nn.Linear(2, 2), nn.Linear(2, 1)])
    assert [n for n, _ in layers.named_parameters()] == ["0.weight", "0.bias", "1.weight", "1.bias"]
    adapters = nn.ModuleDict({"default": nn.Linear(2, 1, bias=False)})
    adapters["other"] = nn.Linear(2, 1, bias=False)
    assert [n for n, _ in adapters.named_parameters()] == ["default.weight", "other.weight"]
    del adapters["default"]
    assert list(adapters.keys()) == ["other"]
    with pytest.raises(KeyError, match="'missing'.*\\['other'\\]"):
        adapters["missing"]

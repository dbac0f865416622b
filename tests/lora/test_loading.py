"""Loading adapters: a refused load leaves the model as it was; shared biases."""
import re
import warnings

import numpy as np
import pytest

from lorabook.lora import LoraConfig, LoraLinear, ModulesToSaveWrapper, PeftModel, get_peft_model


def trained(model, config, seed=0):
    """A PeftModel whose trainable parameters hold random values, as after some training."""
    peft_model = get_peft_model(model, config, generator=seed)
    rng = np.random.default_rng(seed)
    for param in peft_model.parameters():
        if param.requires_grad:
            param.data[...] = rng.standard_normal(param.shape) * 0.3
    return peft_model


# ----- a refused load gives the model back as it was -------------------------------------------
def test_refused_from_pretrained_gives_back_the_same_modules_and_flags(make_mlp, tmp_path):
    trained(make_mlp(), LoraConfig(r=2, target_modules=["0"], modules_to_save=["4"])).save_adapter(tmp_path)
    other = make_mlp(sizes=(7, 5, 4, 3))  # the first layer has another in_features: the load must fail
    other[4].requires_grad_(False)        # the user had frozen the head...
    other[2].bias.requires_grad = False   # ...and one bias
    modules = [(name, id(m)) for name, m in other.named_modules()]
    # the same Parameter objects: an optimizer made before the call still holds the model's own
    params = [(name, id(p), p.requires_grad) for name, p in other.named_parameters()]
    x = np.ones((2, 7), dtype=np.float32)
    output = other(x).data
    with pytest.raises(ValueError, match=r"base_model.model.0.lora_A.weight: shape \(2, 6\) in the adapter, \(2, 7\) in the model"):
        PeftModel.from_pretrained(other, tmp_path)
    assert [(name, id(m)) for name, m in other.named_modules()] == modules
    assert [(name, id(p), p.requires_grad) for name, p in other.named_parameters()] == params
    assert not any(isinstance(m, (LoraLinear, ModulesToSaveWrapper)) for m in other.modules())
    assert other.training and np.array_equal(other(x).data, output)
    get_peft_model(other, LoraConfig(r=2, target_modules=["0"]))  # and it is a plain model again


# ----- shared biases ---------------------------------------------------------------------------
@pytest.mark.parametrize("bias, layers", [("lora_only", ["0"]), ("all", ["0", "2", "4"])])
def test_loading_a_bias_adapter_warns_and_overwrites_the_shared_biases(make_mlp, batch, tmp_path, bias, layers):
    source = trained(make_mlp(), LoraConfig(r=2, target_modules=["0"], bias=bias), seed=1)
    source.save_adapter(tmp_path)
    target = trained(make_mlp(), LoraConfig(r=2, target_modules=["0"]), seed=5)
    before = target(batch).data
    with pytest.warns(UserWarning, match=rf"adapter 'b' was saved with bias='{bias}'.*overwrote the biases of "
                                         rf"layer\(s\) {re.escape(repr(layers))}.*active adapter 'default' now computes with them too"):
        target.load_adapter(tmp_path, "b")
    assert target.active_adapter == "default"
    # the documented effect: the active adapter's outputs change, because its biases are the loaded ones
    assert not np.allclose(target(batch).data, before)
    np.testing.assert_array_equal(target.get_base_model()[0].base_layer.bias.data, source.get_base_model()[0].base_layer.bias.data)
    # loading the same file again changes nothing, and so does not warn
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        target.load_adapter(tmp_path, "c")


def test_loading_without_biases_does_not_warn_nor_change_the_active_adapter(make_mlp, batch, tmp_path):
    trained(make_mlp(), LoraConfig(r=2, target_modules=["0", "2"]), seed=1).save_adapter(tmp_path)
    target = trained(make_mlp(), LoraConfig(r=2, target_modules=["0"], bias="lora_only"), seed=5)
    before = target(batch).data
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        target.load_adapter(tmp_path, "b")
    assert np.array_equal(target(batch).data, before)

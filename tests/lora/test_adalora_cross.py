"""Optional: an AdaLoRA adapter written by lorabook, loaded by real PEFT, gives lorabook's outputs.

Runs only where torch and peft are importable (CI installs neither); the
fixture tests in test_adalora_peft.py cover the same ground without them.
"""
import numpy as np
import pytest

from lorabook.lora import AdaLoraConfig, get_peft_model
from lorabook.nn import MLP


def test_peft_loads_a_lorabook_adalora_adapter(tmp_path):
    torch = pytest.importorskip("torch", reason="torch is not installed (optional cross-test with real PEFT)")
    peft = pytest.importorskip("peft", reason="peft is not installed (optional cross-test with real PEFT)")
    base = MLP([6, 8, 3], generator=0, dtype=np.float64)
    torch_base = torch.nn.Sequential(torch.nn.Linear(6, 8), torch.nn.ReLU(), torch.nn.Linear(8, 3)).double()
    with torch.no_grad():
        for name, param in torch_base.named_parameters():
            param.copy_(torch.from_numpy(dict(base.named_parameters())[name].data))
    peft_model = get_peft_model(base, AdaLoraConfig(init_r=4, target_r=2, total_step=10, target_modules=["0", "2"]),
                                generator=0)
    rng = np.random.default_rng(0)
    for name, param in peft_model.named_parameters():
        if "lora_" in name:
            param.data = rng.standard_normal(param.shape)
    pattern = {"0.lora_E.default": [True, False, True, True], "2.lora_E.default": [False, True, False, False]}
    peft_model.peft_config["default"].rank_pattern = pattern
    peft_model.base_model.rankallocator.mask_using_rank_pattern(peft_model.get_base_model(), pattern)
    peft_model.save_pretrained(tmp_path / "ada")
    x = rng.standard_normal((4, 6))
    loaded = peft.PeftModel.from_pretrained(torch_base, str(tmp_path / "ada"))
    np.testing.assert_allclose(loaded(torch.from_numpy(x)).detach().numpy(), peft_model(x).data, atol=1e-9, rtol=0)

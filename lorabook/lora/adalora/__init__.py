"""AdaLoRA (Zhang et al. 2023): LoRA in SVD form whose rank moves to the layers that need it.

    from lorabook.lora import AdaLoraConfig, get_peft_model

    config = AdaLoraConfig(init_r=12, target_r=4, tinit=20, tfinal=40, deltaT=10,
                           total_step=300, target_modules="all-linear")
    peft_model = get_peft_model(model, config)
    ... loss + peft_model.base_model.orth_regularization(), backward, optimizer.step(),
        peft_model.base_model.update_and_allocate(step), zero_grad() ...

Modules, read in this order:
    config     AdaLoraConfig (PEFT's fields and defaults) and its checks
    layer      SVDLinear: delta W = B diag(E) A * scaling / (ranknum + 1e-5)
    allocator  RankAllocator: importance scores, the cubic budget, masking
    model      AdaLoraModel: injection, the orthogonality penalty, update_and_allocate
    peft       AdaLoraPeftModel and PEFT's adapter files
"""
from .allocator import RankAllocator
from .config import AdaLoraConfig
from .layer import ParameterDict, SVDLinear
from .model import AdaLoraModel
from .peft import AdaLoraPeftModel

__all__ = ["AdaLoraConfig", "SVDLinear", "ParameterDict", "RankAllocator", "AdaLoraModel", "AdaLoraPeftModel"]

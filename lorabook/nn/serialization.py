"""save / load a module's parameters as safetensors with PyTorch's state-dict names.

    nn.save(model, "mlp.safetensors")      # "0.weight" (out, in), "0.bias", "2.weight", ...
    nn.load(model, "mlp.safetensors")

The names and shapes are PyTorch's, so the same file loads into PyTorch:

    import safetensors.torch, torch
    torch_mlp = torch.nn.Sequential(torch.nn.Linear(20, 64), torch.nn.ReLU(), torch.nn.Linear(64, 3))
    torch_mlp.load_state_dict(safetensors.torch.load_file("mlp.safetensors"))

The file is written atomically (a crash leaves the old file or the new
one), holds only numbers (never pickle), and loading checks its header
against the model before reading any number (see lorabook.safetensors_file).
"""
from __future__ import annotations

from ..io import CheckpointError, PathLike, check_path
from ..safetensors_file import read_safetensors, save_safetensors
from .module import IncompatibleKeys, Module

METADATA = {"format": "pt"}  # what PyTorch and PEFT write; transformers looks for it


def save(module: Module, path: PathLike) -> str:
    """Write module.state_dict() to `path` as safetensors (atomic, no pickle). Returns `path`."""
    path = check_path(path)
    if path.endswith(".npz"):
        raise ValueError(f"path {path!r} ends in .npz, but nn.save writes safetensors; name it '*.safetensors'")
    return save_safetensors(path, module.state_dict(), METADATA)


def load(module: Module, path: PathLike, strict: bool = True) -> IncompatibleKeys:
    """Load parameters saved by `save` (or by PyTorch's safetensors) into `module`, in place.

    Every name, shape and dtype is checked against the module before any
    number is read; on any mismatch nothing changes (see Module.load_state_dict).
    """
    checkpoint = read_safetensors(path)
    own = dict(module.named_parameters())
    shapes = {name: shape for name, (_, shape) in checkpoint.entries.items()}
    module.check_state_dict(shapes, strict=strict)  # names and shapes, before reading numbers
    wanted = [name for name in checkpoint.entries if name in own]
    try:
        arrays = checkpoint.read(wanted)
    except OSError as err:
        raise CheckpointError(f"{checkpoint.path!r} could not be read: {err}") from None
    return module.load_state_dict(arrays, strict=strict)

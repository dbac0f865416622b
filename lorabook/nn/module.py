"""`Module` and `Parameter`: the containers every model is built from, as in PyTorch.

Assigning a Parameter or a Module to an attribute registers it:

    class Net(Module):
        def __init__(self):
            super().__init__()
            self.fc = Linear(4, 2)          # a submodule named "fc"
            self.scale = Parameter(np.ones(2))

    Net().named_parameters()  ->  fc.weight, fc.bias, scale

Registered things are also ordinary attributes, so reading `self.fc` costs
nothing extra in forward (PyTorch routes it through __getattr__ instead).
"""
from __future__ import annotations

from collections import OrderedDict, namedtuple
from typing import Mapping, Optional, Sequence, Tuple

import numpy as np

from ..autograd.tensor import Tensor

IncompatibleKeys = namedtuple("IncompatibleKeys", ["missing_keys", "unexpected_keys"])


class Parameter(Tensor):
    """A Tensor that a Module registers as trainable (requires_grad=True by default).

    Freeze it with `p.requires_grad = False`: it then gets no gradient, no
    optimizer state, and backward does not compute its gradient.
    """

    __slots__ = ()

    def __init__(self, data, requires_grad=True, dtype=None):
        super().__init__(data, requires_grad=requires_grad, dtype=dtype)
        if self.data.dtype.kind != "f":
            raise TypeError(f"a Parameter must hold floating-point values, got dtype {self.data.dtype}")

    def __repr__(self):
        return "Parameter containing:\n" + super().__repr__()


class Module:
    """Base class of every layer and model. Subclasses define `forward`."""

    def __init__(self):
        object.__setattr__(self, "_parameters", OrderedDict())
        object.__setattr__(self, "_modules", OrderedDict())
        object.__setattr__(self, "training", True)

    # ----- registration -----------------------------------------------------
    def __setattr__(self, name, value):
        params = self.__dict__.get("_parameters")
        if params is None:
            raise AttributeError(
                f"cannot assign {name!r} before Module.__init__() has run: call super().__init__() "
                f"first in {type(self).__name__}.__init__"
            )
        modules = self._modules
        if isinstance(value, Parameter):
            modules.pop(name, None)
            params[name] = value
        elif isinstance(value, Module):
            params.pop(name, None)
            modules[name] = value
        elif name in params and value is not None:
            raise TypeError(
                f"cannot assign a {type(value).__name__} to {name!r}: it is a Parameter of "
                f"{type(self).__name__}; wrap it as Parameter(...) or assign None"
            )
        else:
            params.pop(name, None)
            modules.pop(name, None)
        object.__setattr__(self, name, value)

    def __delattr__(self, name):
        self._parameters.pop(name, None)
        self._modules.pop(name, None)
        object.__delattr__(self, name)

    def register_parameter(self, name, param):
        setattr(self, name, param)

    def add_module(self, name, module):
        setattr(self, name, module)

    # ----- running ------------------------------------------------------------
    def forward(self, *args, **kwargs):
        raise NotImplementedError(f"{type(self).__name__} must define forward()")

    def __call__(self, *args, **kwargs):
        return self.forward(*args, **kwargs)

    def train(self, mode=True):
        """Set training mode (Dropout active) on this module and every submodule."""
        for module in self.modules():
            object.__setattr__(module, "training", bool(mode))
        return self

    def eval(self):
        """Evaluation mode: same as train(False)."""
        return self.train(False)

    # ----- walking the tree ---------------------------------------------------------
    def named_children(self):
        return iter(self._modules.items())

    def children(self):
        return iter(self._modules.values())

    def named_modules(self, prefix=""):
        """(dotted name, module) for this module ("") and every submodule, depth first."""
        seen = set()
        stack = [(prefix, self)]
        while stack:
            name, module = stack.pop()
            if id(module) in seen:
                continue
            seen.add(id(module))
            yield name, module
            children = [(f"{name}.{child}" if name else child, sub) for child, sub in module._modules.items()]
            stack.extend(reversed(children))

    def modules(self):
        """This module and every submodule, depth first, in named_modules' order.

        Walked without building the dotted names: train() and eval() run this
        every epoch, and the names would be most of the cost.
        """
        seen, stack, order = set(), [self], []
        while stack:
            module = stack.pop()
            if id(module) not in seen:
                seen.add(id(module))
                order.append(module)
                stack.extend(reversed(module._modules.values()))
        return iter(order)

    def named_parameters(self, prefix="", recurse=True):
        """(dotted name, Parameter) pairs, e.g. ("0.weight", ...); a shared Parameter once."""
        seen = set()
        modules = self.named_modules(prefix) if recurse else [(prefix, self)]
        for module_name, module in modules:
            for name, param in module._parameters.items():
                if id(param) not in seen:
                    seen.add(id(param))
                    yield (f"{module_name}.{name}" if module_name else name), param

    def parameters(self, recurse=True):
        return (param for _, param in self.named_parameters(recurse=recurse))

    def get_submodule(self, target):
        """The submodule at a dotted path such as "0" or "encoder.fc"."""
        module = self
        for part in target.split(".") if target else []:
            if part not in module._modules:
                raise AttributeError(f"{type(module).__name__} has no submodule {part!r} (looking for {target!r})")
            module = module._modules[part]
        return module

    def zero_grad(self, set_to_none=True):
        """Forget all gradients: .grad = None (PyTorch's default), or zeros with set_to_none=False."""
        for param in self.parameters():
            param.clear_grad(set_to_none)

    def requires_grad_(self, requires_grad=True):
        for param in self.parameters():
            param.requires_grad = bool(requires_grad)
        return self

    # ----- state ----------------------------------------------------------------
    def state_dict(self) -> "OrderedDict[str, np.ndarray]":
        """Dotted name -> copy of each parameter's values (a snapshot, not a view)."""
        return OrderedDict((name, param.data.copy()) for name, param in self.named_parameters())

    def load_state_dict(self, state_dict: Mapping[str, object], strict: bool = True) -> IncompatibleKeys:
        """Copy values from `state_dict` (name -> array) into the parameters, in place.

        strict: every parameter must be given and nothing else. Shapes must
        always match, and every value must be a real floating-point array
        (converted to the parameter's dtype as PyTorch does). Everything is
        checked first: a mismatch is a RuntimeError listing every problem, as
        in PyTorch, and then nothing has been copied. Returns
        (missing_keys, unexpected_keys).
        """
        own = OrderedDict(self.named_parameters())
        arrays, wrong_type = {}, []
        for name, value in state_dict.items():
            if name not in own:
                continue
            try:
                array = np.asarray(value.data if isinstance(value, Tensor) else value)
            except (ValueError, TypeError) as err:  # e.g. a ragged list
                wrong_type.append(f"{name}: not an array ({err})")
                continue
            if array.dtype.kind != "f":
                wrong_type.append(f"{name}: dtype {array.dtype}, expected real floating point")
            arrays[name] = array
        shapes = {name: np.shape(array) for name, array in arrays.items()}
        shapes.update({name: None for name in state_dict if name not in own})
        missing, unexpected = self.check_state_dict(shapes, strict, extra_problems=wrong_type)
        for name, array in arrays.items():
            param = own[name]
            np.copyto(param.data, array, casting="same_kind")
            param.bump_version()  # a graph that saved the old values now refuses backward
        return IncompatibleKeys(missing, unexpected)

    def check_state_dict(self, shapes: Mapping[str, Optional[tuple]], strict: bool = True,
                         extra_problems: Sequence[str] = ()) -> Tuple[list, list]:
        """RuntimeError listing every mismatch between `shapes` (name -> shape) and the parameters.

        Used before anything is loaded, also by nn.load before it reads any
        number from a file. Returns (missing_keys, unexpected_keys).
        """
        own = OrderedDict(self.named_parameters())
        missing = [name for name in own if name not in shapes]
        unexpected = [name for name in shapes if name not in own]
        problems = []
        if strict and missing:
            problems.append(f"missing keys {missing}")
        if strict and unexpected:
            problems.append(f"unexpected keys {unexpected}")
        wrong = [f"{name}: checkpoint {tuple(shapes[name])}, model {own[name].shape}"
                 for name in own if name in shapes and tuple(shapes[name]) != own[name].shape]
        if wrong:
            problems.append("shape mismatch for " + "; ".join(wrong))
        if extra_problems:
            problems.append("wrong values for " + "; ".join(extra_problems))
        if problems:
            raise RuntimeError(f"load_state_dict for {type(self).__name__}: " + "; ".join(problems) +
                               " (nothing was loaded)")
        return missing, unexpected

    # ----- printing ---------------------------------------------------------------
    def extra_repr(self):
        return ""

    def __repr__(self):
        lines = []
        for name, module in self._modules.items():
            child = repr(module).replace("\n", "\n  ")
            lines.append(f"  ({name}): {child}")
        head = f"{type(self).__name__}({self.extra_repr()}"
        return head + ")" if not lines else head + "\n" + "\n".join(lines) + "\n)"

"""Optimizers with PyTorch's update rules and defaults: SGD, Adam, AdamW.

    optimizer = Adam(model.parameters(), lr=1e-3)
    loss.backward(); optimizer.step(); optimizer.zero_grad()

Parameter groups give parts of a model their own settings (LoRA+ trains B
with a larger learning rate than A):

    Adam([{"params": a_params}, {"params": b_params, "lr": 16 * lr}], lr=lr)

A step updates the parameters that require grad and have a gradient; a
frozen weight gets no state at all, which is where LoRA saves optimizer
memory (Adam keeps two arrays, m and v, for every trainable parameter).
Frozen parameters may be passed in (`model.parameters()` is the usual
argument) and start training if they are unfrozen later, as in PyTorch.
"""
from __future__ import annotations

import math
from typing import Any, Dict, Iterable, Tuple, Union

import numpy as np

from ._checks import check_bool, check_float
from .autograd import grad_mode
from .autograd.tensor import Tensor

Params = Union[Iterable[Tensor], Iterable[Dict[str, Any]]]


class Optimizer:
    """Holds parameter groups and per-parameter state; subclasses define `_update`."""

    def __init__(self, params: Params, defaults: Dict[str, Any]):
        self._check_settings(defaults)  # bad hyper-parameters are named here, not at the first step
        self.defaults = defaults
        self.param_groups = []
        self.state = {}  # param -> dict of arrays and counters (tensors hash by identity), as in PyTorch
        name = type(self).__name__
        if hasattr(params, "data"):  # iterating one Tensor would yield its rows, silently
            raise TypeError(
                f"params must be an iterable of Parameters or of dicts, got a single "
                f"{type(params).__name__}; wrap it in a list: {name}([param], ...)"
            )
        if hasattr(params, "parameters") and callable(params.parameters):
            raise TypeError(f"params must be an iterable of Parameters, got the module {type(params).__name__}; "
                            f"did you mean {name}(model.parameters(), ...)?")
        groups = list(params)
        if groups and not isinstance(groups[0], dict):
            groups = [{"params": groups}]
        for group in groups:
            self.add_param_group(group)
        given = self._ordered_params()
        if not any(p.requires_grad for p in given):
            problem = "an empty parameter list" if not given else f"{len(given)} parameter(s), all with requires_grad=False"
            raise ValueError(f"{name} got {problem}: no trainable parameters, nothing to optimize")

    def add_param_group(self, group: Dict[str, Any]) -> None:
        if not isinstance(group, dict) or "params" not in group:
            raise TypeError(f"a parameter group must be a dict with a 'params' entry, got {group!r}")
        params = group["params"]
        params = [params] if hasattr(params, "data") else list(params)
        for param in params:
            if not hasattr(param, "requires_grad") or not hasattr(param, "grad"):
                raise TypeError(f"optimizer params must be Tensors/Parameters, got {type(param).__name__}")
        settings = {**self.defaults, **{k: v for k, v in group.items() if k != "params"}}
        unknown = set(settings) - set(self.defaults)
        if unknown:
            raise ValueError(f"unknown option(s) {sorted(unknown)} for {type(self).__name__}; known: {sorted(self.defaults)}")
        self._check_settings(settings)
        seen = {id(p) for group in self.param_groups for p in group["params"]}
        if len({id(p) for p in params}) < len(params) or any(id(p) in seen for p in params):
            # PyTorch refuses this too: the parameter would be updated twice per step.
            raise ValueError(f"some parameters appear more than once in {type(self).__name__}'s parameter groups")
        settings["params"] = params
        self.param_groups.append(settings)

    def _check_settings(self, settings):
        """Check every hyper-parameter of one group, naming a bad one; converts them in place."""
        settings["lr"] = check_float("lr", settings["lr"], low=0.0)
        if "weight_decay" in settings:
            settings["weight_decay"] = check_float("weight_decay", settings["weight_decay"], low=0.0)

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Forget the gradients of every parameter: .grad = None (or zeros, with set_to_none=False)."""
        for group in self.param_groups:
            for param in group["params"]:
                param.clear_grad(set_to_none)

    def step(self) -> None:
        """Update, in place, every parameter that requires grad and has a gradient.

        Each updated parameter's version is bumped, so a graph recorded
        before the step refuses to backpropagate with the changed values.
        """
        for group in self.param_groups:
            for param in group["params"]:
                # requires_grad is checked here, not when the optimizer is built, so a
                # stray gradient never moves a frozen weight and unfreezing later works.
                if param.requires_grad and param.grad is not None:
                    state = self.state.get(param)
                    if state is None:
                        state = self.state[param] = {}
                    self._update(param, param.grad, state, group)
                    # param.bump_version(), without a call per parameter:
                    param._version += 1
                    grad_mode.in_place_changes += 1

    def _ordered_params(self):
        """Every parameter, group by group: position i in state_dict() is the i-th of these."""
        return [param for group in self.param_groups for param in group["params"]]

    def state_dict(self) -> Dict[str, Any]:
        """The hyper-parameters of each group and the state of each parameter (by position)."""
        positions = {id(param): index for index, param in enumerate(self._ordered_params())}
        groups = [{**{k: v for k, v in group.items() if k != "params"},
                   "params": [positions[id(param)] for param in group["params"]]} for group in self.param_groups]
        state = {
            positions[id(param)]: {k: (v.copy() if isinstance(v, np.ndarray) else v) for k, v in entry.items()}
            for param, entry in self.state.items()
        }
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict: Dict[str, Any]) -> None:
        """Take over what another optimizer's state_dict() holds, to resume training (as in PyTorch).

        This optimizer must have the same groups with as many parameters in
        each, in the same order, and every state array must fit its parameter.
        Arrays are copied; the hyper-parameters of each group are replaced.
        """
        groups = state_dict["param_groups"]
        saved_sizes = [len(group["params"]) for group in groups]
        own_sizes = [len(group["params"]) for group in self.param_groups]
        if saved_sizes != own_sizes:
            raise ValueError(f"state_dict has groups of {saved_sizes} parameters, this {type(self).__name__} has "
                             f"{own_sizes}; build the optimizer on the same parameters in the same order")
        params = self._ordered_params()
        state = {}
        for index, entry in state_dict["state"].items():
            param = params[int(index)]
            state[param] = {}
            for key, value in entry.items():
                if isinstance(value, np.ndarray):
                    if value.shape != param.shape:
                        raise ValueError(f"state_dict's {key!r} for parameter {index} has shape {value.shape}, "
                                         f"the parameter has shape {param.shape}")
                    value = value.astype(param.dtype, copy=True)
                state[param][key] = value
        settings = []
        for group, saved in zip(self.param_groups, groups):
            new = {k: v for k, v in saved.items() if k != "params"}
            unknown = set(new) - set(self.defaults)
            if unknown:
                raise ValueError(f"state_dict has option(s) {sorted(unknown)} unknown to {type(self).__name__}")
            merged = {**group, **new}
            self._check_settings(merged)
            settings.append({k: merged[k] for k in new})
        for group, new in zip(self.param_groups, settings):  # nothing changes before every check passed
            group.update(new)
        self.state = state

    def state_nbytes(self) -> int:
        """Bytes held in optimizer state arrays (m, v, momentum buffers)."""
        return sum(v.nbytes for s in self.state.values() for v in s.values() if isinstance(v, np.ndarray))

    def __repr__(self):
        lines = [f"{type(self).__name__} ("]
        for index, group in enumerate(self.param_groups):
            lines.append(f"Parameter Group {index}")
            lines.extend(f"    {k}: {v}" for k, v in group.items() if k != "params")
        return "\n".join(lines + [")"])


class SGD(Optimizer):
    """Stochastic gradient descent, PyTorch's rule:

        g = grad + weight_decay * p
        b = g (first step), else momentum * b + (1 - dampening) * g
        g = g + momentum * b if nesterov else b     (when momentum > 0)
        p = p - lr * g
    """

    def __init__(self, params: Params, lr: float = 1e-3, momentum: float = 0.0, dampening: float = 0.0,
                 weight_decay: float = 0.0, nesterov: bool = False):
        defaults = dict(lr=lr, momentum=momentum, dampening=dampening, weight_decay=weight_decay, nesterov=nesterov)
        super().__init__(params, defaults)

    def _check_settings(self, settings):
        super()._check_settings(settings)
        momentum = settings["momentum"] = check_float("momentum", settings["momentum"], low=0.0)
        dampening = settings["dampening"] = check_float("dampening", settings["dampening"])
        settings["nesterov"] = check_bool("nesterov", settings["nesterov"])
        if settings["nesterov"] and (momentum <= 0 or dampening != 0):
            raise ValueError(
                f"nesterov=True needs momentum > 0 and dampening = 0, got momentum={momentum}, dampening={dampening}"
            )

    def _update(self, param, grad, state, group):
        if group["weight_decay"]:
            grad = grad + group["weight_decay"] * param.data
        momentum = group["momentum"]
        if momentum:
            buffer = state.get("momentum_buffer")
            if buffer is None:
                buffer = state["momentum_buffer"] = np.array(grad)
            else:
                buffer *= momentum
                buffer += (1 - group["dampening"]) * grad
            grad = grad + momentum * buffer if group["nesterov"] else buffer
        param.data -= group["lr"] * grad


class Adam(Optimizer):
    """Adam (Kingma and Ba 2015), PyTorch's rule with L2 weight decay added to the gradient:

        g = grad + weight_decay * p
        m = beta1 m + (1 - beta1) g           v = beta2 v + (1 - beta2) g^2
        p = p - lr / (1 - beta1^t) * m / (sqrt(v / (1 - beta2^t)) + eps)
    """

    def __init__(self, params: Params, lr: float = 1e-3, betas: Tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0.0):
        super().__init__(params, dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay))

    def _check_settings(self, settings):
        super()._check_settings(settings)
        betas = settings["betas"]
        if isinstance(betas, (str, bytes)) or not hasattr(betas, "__len__") or len(betas) != 2:
            raise (ValueError if hasattr(betas, "__len__") else TypeError)(
                f"betas must be a pair (beta1, beta2) of numbers in [0, 1), got {betas!r}"
            )
        settings["betas"] = tuple(check_float(f"betas[{index}]", beta, low=0.0, high=1.0, high_open=True)
                                  for index, beta in enumerate(betas))
        settings["eps"] = check_float("eps", settings["eps"], low=0.0)

    def _decay(self, param, grad, group):
        """Adam folds weight decay into the gradient (an L2 penalty)."""
        return grad + group["weight_decay"] * param.data if group["weight_decay"] else grad

    def _update(self, param, grad, state, group):
        grad = self._decay(param, grad, group)
        beta1, beta2 = group["betas"]
        if not state:
            state["step"] = 0
            state["exp_avg"] = np.zeros_like(param.data)
            state["exp_avg_sq"] = np.zeros_like(param.data)
        state["step"] += 1
        m, v, t = state["exp_avg"], state["exp_avg_sq"], state["step"]
        m *= beta1
        m += (1 - beta1) * grad
        v *= beta2
        v += (1 - beta2) * (grad * grad)
        denom = np.sqrt(v)
        denom /= math.sqrt(1 - beta2**t)
        denom += group["eps"]
        step_size = group["lr"] / (1 - beta1**t)
        param.data -= step_size * (m / denom)


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov and Hutter 2019):
    p = p * (1 - lr * weight_decay) before the Adam step, instead of an L2 term."""

    def __init__(self, params: Params, lr: float = 1e-3, betas: Tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 1e-2):
        super().__init__(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay)

    def _decay(self, param, grad, group):
        if group["weight_decay"]:
            param.data *= 1 - group["lr"] * group["weight_decay"]
        return grad

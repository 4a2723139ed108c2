"""LARS: Layer-wise Adaptive Rate Scaling (You et al. 2017), the optimiser NovEmoFake pre-trains with.

The paper pre-trains its novelty module "for 1000 epochs using the LARS optimizer for SGD with a batch
size of 512". Neither torch nor any package in this environment ships LARS (the authors used the
third-party ``torchlars``), so it is implemented here following the SimCLR reference implementation
(``lars_optimizer.py`` of google-research/simclr), for each parameter ``w`` with gradient ``g``:

    g'      = g + wd * w                                  (weight decay, if the group has it)
    trust   = eta * ||w|| / ||g'||   (1 when either norm is 0, or the group is excluded)
    v       = momentum * v + lr * trust * g'
    w       = w - v                                       (nesterov: w - (momentum * v + lr * trust * g'))

As in SimCLR, biases and normalisation parameters (1-d tensors) are excluded from both the weight decay
and the trust-ratio adaptation: build the groups with :func:`lars_param_groups`.
"""

from __future__ import annotations

from typing import Iterable

import torch
from torch import nn


class LARS(torch.optim.Optimizer):
    """SGD with momentum and a per-tensor trust ratio ``eta * ||w|| / ||g + wd * w||``.

    Param-group options: ``lr``, ``momentum``, ``weight_decay``, ``eta``, ``nesterov`` and
    ``lars_adapt`` (False = plain momentum SGD for that group, used for biases and norm weights).
    """

    def __init__(self, params, lr: float, momentum: float = 0.9, weight_decay: float = 0.0,
                 eta: float = 0.001, nesterov: bool = False, lars_adapt: bool = True) -> None:
        if lr < 0:
            raise ValueError(f"LARS: lr must be >= 0; got {lr}")
        if not 0.0 <= momentum < 1.0:
            raise ValueError(f"LARS: momentum must be in [0, 1); got {momentum}")
        if weight_decay < 0:
            raise ValueError(f"LARS: weight_decay must be >= 0; got {weight_decay}")
        if eta <= 0:
            raise ValueError(f"LARS: eta (trust coefficient) must be > 0; got {eta}")
        defaults = dict(lr=lr, momentum=momentum, weight_decay=weight_decay, eta=eta,
                        nesterov=nesterov, lars_adapt=lars_adapt)
        super().__init__(params, defaults)

    @torch.no_grad()
    def step(self, closure=None):  # type: ignore[override]
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                grad = p.grad
                if group["weight_decay"] != 0:
                    grad = grad.add(p, alpha=group["weight_decay"])
                scaled_lr = group["lr"]
                if group["lars_adapt"]:
                    w_norm = torch.linalg.vector_norm(p)
                    g_norm = torch.linalg.vector_norm(grad)
                    trust = torch.where((w_norm > 0) & (g_norm > 0),
                                        group["eta"] * w_norm / g_norm.clamp_min(torch.finfo(p.dtype).tiny),
                                        torch.ones_like(w_norm))
                    scaled_lr = trust * group["lr"]
                update = grad * scaled_lr
                state = self.state[p]
                if "momentum_buffer" not in state:
                    state["momentum_buffer"] = torch.zeros_like(p)
                buf = state["momentum_buffer"]
                buf.mul_(group["momentum"]).add_(update)
                if group["nesterov"]:
                    p.sub_(buf * group["momentum"] + update)
                else:
                    p.sub_(buf)
        return loss


def lars_param_groups(module: nn.Module, weight_decay: float) -> list[dict]:
    """Two groups as in SimCLR: weights (decay + adaptation) and 1-d tensors (biases, norms: neither)."""
    adapted: list[nn.Parameter] = []
    excluded: list[nn.Parameter] = []
    for param in module.parameters():
        if not param.requires_grad:
            continue
        (excluded if param.dim() <= 1 else adapted).append(param)
    groups: list[dict] = []
    if adapted:
        groups.append({"params": adapted, "weight_decay": weight_decay, "lars_adapt": True})
    if excluded:
        groups.append({"params": excluded, "weight_decay": 0.0, "lars_adapt": False})
    return groups


def make_lars(module: nn.Module, lr: float, weight_decay: float = 0.0, momentum: float = 0.9,
              eta: float = 0.001) -> LARS:
    """LARS over ``module``'s trainable parameters with biases / norm weights excluded."""
    groups: Iterable[dict] = lars_param_groups(module, weight_decay)
    return LARS(groups, lr=lr, momentum=momentum, weight_decay=weight_decay, eta=eta)

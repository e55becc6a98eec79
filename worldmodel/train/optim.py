"""AdamW without weight decay on norms and biases, and the warmup-constant-cooldown schedule."""
from __future__ import annotations

import torch
from torch import nn


def param_groups(model: nn.Module, weight_decay: float) -> list[dict]:
    """Two AdamW groups: matrices and embeddings decay; biases, norms and 1-d tokens do not."""
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        (no_decay if p.ndim <= 1 or name.endswith(".bias") or "norm" in name else decay).append(p)
    return [{"params": decay, "weight_decay": weight_decay},
            {"params": no_decay, "weight_decay": 0.0}]


def make_optimizer(model: nn.Module, lr: float, weight_decay: float,
                   betas: tuple[float, float]) -> torch.optim.AdamW:
    groups = [g for g in param_groups(model, weight_decay) if g["params"]]
    if not groups:
        raise ValueError("the model has no trainable parameters")
    return torch.optim.AdamW(groups, lr=lr, betas=tuple(betas))


def warmup_constant_cooldown(step: int, total: int, warmup: int, cooldown: int,
                             final_ratio: float = 0.0) -> float:
    """LR multiplier: linear warmup from 0 over ``warmup`` steps, constant 1, then a linear
    cool-down to ``final_ratio`` over the last ``cooldown`` steps (V-JEPA 2's schedule)."""
    if warmup > 0 and step < warmup:
        return (step + 1) / warmup
    cool_start = total - cooldown
    if cooldown > 0 and step >= cool_start:
        frac = (step - cool_start + 1) / cooldown
        return 1.0 - (1.0 - final_ratio) * min(frac, 1.0)
    return 1.0

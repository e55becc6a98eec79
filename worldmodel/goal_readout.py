"""The goal-proprio readout: a goal image's proprio, estimated from its latent.

A goal comes as an image; its proprio is never given. A planner's proprio cost term
(``planner.cost.proprio_weight``) needs it, so ``wm train`` fits, after the predictor, a small MLP
from a frame's model-space latent (what the predictor works on) to the task's goal features: the
proprio dims a goal pose pins down, as the task's ``goal_proprio`` spec declares them (Reach:
the shoulder's cos/sin and the elbow's angle; PointMaze: the ball's position). It is trained on
the training episodes' frames and their recorded proprio (observations, not simulator state) and
scored by R^2 on the held-out episodes. It is stored beside the world model as
``goal_readout.pt`` and attached by :func:`~worldmodel.world_model.load_world_model`, which then
fills :attr:`planners.protocol.Latent.features` (estimated for images without proprio, computed
from the proprio otherwise, and from the predicted proprio along a rollout)::

    model = load_world_model("runs/reach/world_model/checkpoint.pt", latent_space="projected")
    goal = model.encode(goal_image[None])          # goal.features [1, 3]: estimated from the image
"""
from __future__ import annotations

import hashlib
import math
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
from torch import nn

from worldmodel.train.checkpoint import CheckpointError, load_checkpoint, save_checkpoint

__all__ = ["GoalReadout", "proprio_features", "task_goal_spec", "check_spec", "fit_readout", "net_digest",
           "fit_goal_readout", "save_goal_readout", "load_goal_readout", "READOUT_PATH"]

KIND = "goal_readout"
#: where the readout of a world model lives (in the world model's folder)
READOUT_PATH = Path("goal_readout.pt")
FEATURE_KINDS = ("linear", "angle")

Spec = Sequence[tuple[str, Sequence[int]]]


def task_goal_spec(task: str) -> tuple:
    """The ``goal_proprio`` spec a registered task declares; ``()`` for a task without one or a
    task name the registry does not know (e.g. a dataset of another program's env)."""
    from envs.registry import task_class

    try:
        return tuple(getattr(task_class(task), "goal_proprio", ()))
    except ValueError:
        return ()


def check_spec(spec: Spec, proprio_dim: int) -> tuple[tuple[str, tuple[int, ...]], ...]:
    """``spec`` as a tuple of ``(kind, dims)``; ``ValueError`` for an unknown kind, an angle that
    is not one ``(cos, sin)`` pair, or a dim outside ``[0, proprio_dim)``."""
    out = []
    for entry in spec:
        kind, dims = entry[0], tuple(int(d) for d in entry[1])
        if kind not in FEATURE_KINDS:
            raise ValueError(f"goal_proprio kind must be one of {FEATURE_KINDS}, got {kind!r}")
        if kind == "angle" and len(dims) != 2:
            raise ValueError(f"an 'angle' goal feature is one (cos, sin) pair of dims, got {dims}")
        if not dims or not all(0 <= d < proprio_dim for d in dims):
            raise ValueError(f"goal_proprio dims {dims} must lie in [0, {proprio_dim})")
        out.append((kind, dims))
    return tuple(out)


def proprio_features(proprio: torch.Tensor, spec: Spec) -> torch.Tensor:
    """Raw proprio ``[..., p]`` -> goal features ``[..., f]`` (``linear`` dims as they are, an
    ``angle`` pair as ``atan2(sin, cos)``). Differentiable."""
    parts = []
    for kind, dims in spec:
        if kind == "linear":
            parts.append(proprio[..., list(dims)])
        else:
            cos, sin = dims
            parts.append(torch.atan2(proprio[..., sin], proprio[..., cos])[..., None])
    return torch.cat(parts, -1)


class GoalReadout(nn.Module):
    """An MLP from one frame's model-space latent (any shape ``[B, ...]``, flattened) to its goal
    features ``[B, f]``."""

    def __init__(self, in_dim: int, out_dim: int, hidden: int = 256):
        super().__init__()
        self.in_dim, self.out_dim, self.hidden = in_dim, out_dim, hidden
        self.mlp = nn.Sequential(nn.Linear(in_dim, hidden), nn.GELU(), nn.Linear(hidden, hidden),
                                 nn.GELU(), nn.Linear(hidden, out_dim))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        x = z.flatten(1).float()
        if x.shape[1] != self.in_dim:
            raise ValueError(f"the goal readout reads latents of {self.in_dim} numbers, got "
                             f"{tuple(z.shape)}")
        return self.mlp(x)


def fit_readout(x: torch.Tensor, y: torch.Tensor, *, steps: int = 2000, batch_size: int = 256,
                lr: float = 1e-3, seed: int = 0, hidden: int = 256) -> GoalReadout:
    """Fit a :class:`GoalReadout` on latents ``x [N, ...]`` -> features ``y [N, f]`` (MSE,
    AdamW, cosine decay; reproducible from ``seed``)."""
    if x.shape[0] != y.shape[0] or y.ndim != 2 or x.shape[0] < 1:
        raise ValueError(f"fit_readout expects x [N, ...] and y [N, f], got {tuple(x.shape)} "
                         f"and {tuple(y.shape)}")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        readout = GoalReadout(int(np.prod(x.shape[1:])), y.shape[1], hidden)
    opt = torch.optim.AdamW(readout.parameters(), lr=lr, weight_decay=1e-4)
    gen = torch.Generator().manual_seed(seed)
    x, y = x.flatten(1).float(), y.float()
    for step in range(steps):
        for group in opt.param_groups:
            group["lr"] = lr * 0.5 * (1 + math.cos(math.pi * step / steps))
        idx = torch.randint(x.shape[0], (min(batch_size, x.shape[0]),), generator=gen)
        loss = (readout(x[idx]) - y[idx]).square().mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return readout.eval().requires_grad_(False)


def net_digest(net: nn.Module) -> str:
    """A fingerprint of what a readout depends on: the frozen encoder, the latent projection and
    the proprio statistics of an :class:`~worldmodel.ac_model.ACWorldModelNet`."""
    h = hashlib.sha256()
    for name, tensor in sorted(net.state_dict().items()):
        if name.startswith("predictor."):
            continue
        h.update(name.encode())
        h.update(tensor.detach().cpu().contiguous().float().numpy().tobytes())
    return h.hexdigest()[:16]


def fit_goal_readout(latents: torch.Tensor, proprio: torch.Tensor, spec: Spec,
                     train_eps: Sequence[int], val_eps: Sequence[int], *, steps: int = 2000,
                     seed: int = 0) -> tuple[GoalReadout, dict[str, Any]]:
    """Fit the readout on the model-space ``latents [E, T, ...]`` of ``train_eps`` against the
    goal features of their raw ``proprio [E, T, p]``; R^2 per feature on ``val_eps`` (None
    without held-out episodes)."""
    from worldmodel.probe import r2_score

    feats = proprio_features(proprio.float(), spec)
    tr, va = torch.as_tensor(list(train_eps)), torch.as_tensor(list(val_eps))
    readout = fit_readout(latents[tr].flatten(0, 1), feats[tr].flatten(0, 1), steps=steps,
                          seed=seed)
    r2 = None
    if len(va):
        with torch.no_grad():
            pred = readout(latents[va].flatten(0, 1))
        r2 = [round(float(v), 4) for v in r2_score(pred, feats[va].flatten(0, 1))]
    return readout, {"val_r2": r2, "train_frames": int(len(tr) * latents.shape[1]),
                     "steps": steps, "seed": seed}


def save_goal_readout(path: str | Path, readout: GoalReadout, spec: Spec, net: nn.Module,
                      info: dict[str, Any]) -> None:
    """Write the readout (atomically) with the spec and the digest of the ``net`` it reads."""
    save_checkpoint(path, {"kind": KIND, "model": readout.state_dict(),
                           "arch": {"in_dim": readout.in_dim, "out_dim": readout.out_dim,
                                    "hidden": readout.hidden},
                           "spec": [[k, list(d)] for k, d in spec], "digest": net_digest(net),
                           "info": info})


def load_goal_readout(path: str | Path, net: nn.Module) -> tuple[GoalReadout, tuple, dict]:
    """``(readout, spec, info)`` of a saved readout; ``CheckpointError`` when it was fitted on
    the latents of another world model (encoder, projection or proprio statistics differ)."""
    ckpt = load_checkpoint(path, kind=KIND)
    if ckpt["digest"] != net_digest(net):
        raise CheckpointError(f"{path} was fitted on another world model's latents")
    readout = GoalReadout(**ckpt["arch"])
    readout.load_state_dict(ckpt["model"])
    spec = tuple((k, tuple(d)) for k, d in ckpt["spec"])
    return readout.eval().requires_grad_(False), spec, ckpt.get("info", {})

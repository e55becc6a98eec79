"""The world-model protocol: the only thing planners know about a world model.

A world model maps observations to a latent (:meth:`WorldModel.encode`) and predicts the latents
that follow a batch of candidate action sequences (:meth:`WorldModel.rollout`). Planners score the
predictions against the goal's latent with a cost from :mod:`planners.costs`. The V-JEPA
action-conditioned model, the pixel baseline, the oracle-dynamics diagnostic and test doubles all
implement it; planners never import model internals.

Example::

    start = model.encode(obs["pixels"][None], obs["proprio"][None])    # batch 1
    goal = model.encode(goal_pixels[None])
    pred = model.rollout(start, actions)                               # actions [N, H, A]
    cost = latent_cost(pred, goal, CostConfig())                       # [N]
"""
from __future__ import annotations

import dataclasses
from typing import Protocol, runtime_checkable

import numpy as np
import torch


@dataclasses.dataclass
class Latent:
    """A batch of world-model states.

    Attributes:
        z: the model's latent, ``[B, ...]`` for one time step or ``[B, H, ...]`` for a rollout.
            Its layout is the model's business (tokens ``[P, D]``, pixels ``[C, H, W]``...).
        proprio: the agent's proprioception ``[B, p]`` / ``[B, H, p]`` (given or predicted), or
            ``None`` when unknown (e.g. a goal given as an image only).
        features: the part of the proprio that a goal pose pins down, ``[B, f]`` / ``[B, H, f]``,
            in coordinates where an L1 distance falls all the way to the goal (the task's
            ``goal_proprio`` spec; for a goal image, the world model's estimate from the image),
            or ``None``. What the cost's proprio term compares.
    """

    z: torch.Tensor
    proprio: torch.Tensor | None = None
    features: torch.Tensor | None = None

    @property
    def batch_size(self) -> int:
        return self.z.shape[0]

    def _map(self, fn) -> "Latent":
        return Latent(fn(self.z), *(None if x is None else fn(x)
                                    for x in (self.proprio, self.features)))

    def step(self, t: int) -> "Latent":
        """Time step ``t`` of a rollout ``[B, H, ...]`` as a single-step latent ``[B, ...]``."""
        return self._map(lambda x: x[:, t])

    def expand(self, n: int) -> "Latent":
        """Repeat a batch-1 latent ``n`` times (a view, no copy)."""
        if self.batch_size != 1:
            raise ValueError(f"expand() needs a batch-1 latent, got batch {self.batch_size}")
        return self._map(lambda x: x.expand(n, *x.shape[1:]))

    def detach(self) -> "Latent":
        return self._map(torch.Tensor.detach)


@runtime_checkable
class WorldModel(Protocol):
    """What planners need from a world model.

    Attributes:
        action_dim: size of one planning step's action (an action chunk of ``action_repeat``
            environment actions, flattened), each entry in ``[-1, 1]``.
        device: where candidate action tensors should live.
    """

    action_dim: int
    device: torch.device

    def encode(self, pixels: np.ndarray | torch.Tensor,
               proprio: np.ndarray | torch.Tensor | None = None) -> Latent:
        """Encode observations: ``pixels`` uint8 ``[B, H, W, 3]``, ``proprio`` ``[B, p]``."""
        ...

    def rollout(self, start: Latent, actions: torch.Tensor) -> Latent:
        """Predict the states after each step of ``actions [N, H, action_dim]`` from ``start``
        (batch 1, broadcast to the N candidates, or batch N). Returns a latent with ``z``
        ``[N, H, ...]``: entry ``t`` is the state after actions ``0..t``. Differentiable with
        respect to ``actions`` when autograd is enabled (for gradient planners)."""
        ...


def check_actions(actions: torch.Tensor, action_dim: int) -> None:
    """Raise ``ValueError`` unless ``actions`` is a float tensor ``[N, H, action_dim]``."""
    if not isinstance(actions, torch.Tensor):
        raise ValueError(f"actions must be a torch.Tensor [N, H, {action_dim}], "
                         f"got {type(actions).__name__}")
    if actions.ndim != 3 or actions.shape[-1] != action_dim:
        raise ValueError(f"actions must have shape [N, H, {action_dim}] (candidates, horizon, "
                         f"action), got {tuple(actions.shape)}")
    if actions.shape[0] < 1 or actions.shape[1] < 1:
        raise ValueError(f"actions must hold at least one candidate and one step, "
                         f"got {tuple(actions.shape)}")
    if not actions.is_floating_point():
        raise ValueError(f"actions must be floating point, got {actions.dtype}")

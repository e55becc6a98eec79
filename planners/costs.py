"""Costs of predicted latents against a goal latent (L1 default, L2, cosine; final or summed)."""
from __future__ import annotations

import dataclasses

import torch
import torch.nn.functional as F

from planners.protocol import Latent

METRICS = ("l1", "l2", "cosine")
REDUCTIONS = ("final", "sum")


@dataclasses.dataclass
class CostConfig:
    """How a rollout is scored against the goal.

    Attributes:
        metric: ``l1`` (mean absolute difference, V-JEPA 2-AC's energy), ``l2`` (mean squared
            difference) or ``cosine`` (1 - cosine similarity of the flattened latents).
        reduce: ``final`` scores the last predicted step only; ``sum`` averages over all steps.
        proprio_weight: weight of an L1 term on the predicted vs the goal's proprio features
            (``Latent.features``: for a goal image, the world model's estimate from the image, see
            ``worldmodel.goal_readout``), or on the proprio itself when the goal's is given; used
            only when both sides have them.
        path_weight: with ``reduce="final"``, add this times the mean distance over all steps
            (prefers, among sequences that end equally well, those that get there sooner).
    """

    metric: str = "l1"
    reduce: str = "final"
    proprio_weight: float = 0.0
    path_weight: float = 0.0

    def __post_init__(self):
        if self.metric not in METRICS:
            raise ValueError(f"cost metric must be one of {METRICS}, got {self.metric!r}")
        if self.reduce not in REDUCTIONS:
            raise ValueError(f"cost reduce must be one of {REDUCTIONS}, got {self.reduce!r}")
        if self.proprio_weight < 0:
            raise ValueError(f"proprio_weight must be >= 0, got {self.proprio_weight}")
        if self.path_weight < 0:
            raise ValueError(f"path_weight must be >= 0, got {self.path_weight}")


def distance(a: torch.Tensor, b: torch.Tensor, metric: str = "l1", dims: int = 1) -> torch.Tensor:
    """Distance between ``a`` and ``b`` (broadcast against each other), reduced over the last
    ``dims`` dims of ``a``: the result has ``a``'s first ``a.ndim - dims`` dims."""
    keep = a.ndim - dims
    if metric == "l1":
        return (a - b).abs().flatten(keep).mean(-1)
    if metric == "l2":
        return (a - b).square().flatten(keep).mean(-1)
    if metric == "cosine":
        a, b = torch.broadcast_tensors(a, b)
        return 1.0 - F.cosine_similarity(a.flatten(keep), b.flatten(keep), dim=-1)
    raise ValueError(f"cost metric must be one of {METRICS}, got {metric!r}")


def latent_cost(pred: Latent, goal: Latent, cfg: CostConfig | None = None) -> torch.Tensor:
    """Cost ``[N]`` of a rollout ``pred`` (z ``[N, H, ...]``) against ``goal`` (z ``[1, ...]``)."""
    cfg = cfg or CostConfig()
    if pred.z.ndim != goal.z.ndim + 1 or pred.z.shape[2:] != goal.z.shape[1:]:
        raise ValueError(f"rollout latents {tuple(pred.z.shape)} do not match the goal latent "
                         f"{tuple(goal.z.shape)}: expected [N, H, *goal.shape[1:]]")
    every_step = cfg.reduce == "sum" or cfg.path_weight > 0
    z = pred.z if every_step else pred.z[:, -1:]      # score only what the cost reads
    per_step = distance(z, goal.z[:, None], cfg.metric, dims=goal.z.ndim - 1)  # [N, H or 1]
    cost = per_step.mean(1) if cfg.reduce == "sum" else per_step[:, -1]
    if cfg.path_weight > 0 and cfg.reduce == "final":
        cost = cost + cfg.path_weight * per_step.mean(1)
    if cfg.proprio_weight > 0:
        with_features = pred.features is not None and goal.features is not None
        p, g = (pred.features, goal.features) if with_features else (pred.proprio, goal.proprio)
        if p is not None and g is not None:
            p = p if cfg.reduce == "sum" else p[:, -1:]
            cost = cost + cfg.proprio_weight * (p - g[:, None]).abs().mean(-1).mean(1)
    return cost

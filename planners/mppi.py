"""Model-predictive path integral (MPPI): a cost-weighted average of noisy action sequences.

Each iteration samples ``samples`` sequences around the current mean (the mean itself included),
clamps them to the bounds, scores them in one batched rollout, and sets the mean to
``sum_i w_i a_i`` with ``w = softmax(-c' / temperature)``. The costs are first normalised,
``c' = (c - min c) / (std c + eps)``, so ``temperature`` is unit-free: the same value works whatever
the scale of the model's latents (a candidate one standard deviation worse than the best gets
``exp(-1 / temperature)`` times its weight). Non-finite costs get zero weight. The noise std
shrinks by ``std_decay`` per iteration. As for CEM, the returned plan is the lowest-cost sequence
evaluated during the search, the final mean included.
"""
from __future__ import annotations

import dataclasses

import torch

from planners.base import BestSoFar, Planner, PlannerConfig, PlanResult, require_positive_int
from planners.protocol import Latent, WorldModel

EPS = 1e-8


@dataclasses.dataclass
class MPPIConfig(PlannerConfig):
    """MPPI settings (the noise std is relative to the bounds' half-width).

    Attributes:
        samples: candidate sequences per iteration (the current mean included).
        iterations: weighted-average updates.
        temperature: softmax temperature on the normalised costs (lower = greedier).
        noise_std: initial noise std, in half-widths: ``noise_std * (high - low) / 2``.
        std_decay: factor applied to the noise std after each iteration (1 = constant).
    """

    samples: int = 300
    iterations: int = 10
    temperature: float = 0.5
    noise_std: float = 0.5
    std_decay: float = 0.8

    def __post_init__(self):
        super().__post_init__()
        require_positive_int("samples", self.samples)
        require_positive_int("iterations", self.iterations)
        if self.samples < 2:
            raise ValueError(f"samples must be >= 2 (the mean plus a sample), got {self.samples}")
        if self.temperature <= 0:
            raise ValueError(f"temperature must be > 0, got {self.temperature}")
        if self.noise_std <= 0:
            raise ValueError(f"noise_std must be > 0, got {self.noise_std}")
        if not 0 < self.std_decay <= 1:
            raise ValueError(f"std_decay must be in (0, 1], got {self.std_decay}")


def mppi_weights(costs: torch.Tensor, temperature: float) -> torch.Tensor:
    """Weights ``[N]`` (summing to 1) of candidates with ``costs [N]``; see the module docstring."""
    finite = torch.isfinite(costs)
    if not finite.any():
        return torch.full_like(costs, 1.0 / costs.numel())
    c = costs[finite]
    normalised = (c - c.min()) / (c.std(unbiased=False) + EPS)
    logits = torch.full_like(costs, float("-inf"))
    logits[finite] = -normalised / temperature
    return torch.softmax(logits, 0)


class MPPI(Planner):
    """MPPI over whole action sequences; see the module docstring."""

    cfg: MPPIConfig

    def __init__(self, cfg: MPPIConfig | None = None):
        super().__init__(cfg or MPPIConfig())

    def plan(self, model: WorldModel, start: Latent, goal: Latent) -> PlanResult:
        self.check_inputs(start, goal)
        cfg, device = self.cfg, model.device
        mean = self.clamp(self.initial_mean(model.action_dim, device))
        std = cfg.noise_std * self.half_width
        best, history = BestSoFar(), []
        with torch.no_grad():
            for _ in range(cfg.iterations):
                candidates = self.sample_around(mean, std, cfg.samples)
                costs = self.evaluate(model, start, goal, candidates)
                history.append(best.update(candidates, costs))
                weights = mppi_weights(costs, cfg.temperature)
                mean = (weights[:, None, None] * candidates).sum(0)
                std *= cfg.std_decay
        return self.finish(best, history, model, start, goal, mean[None])

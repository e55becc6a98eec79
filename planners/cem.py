"""Cross-entropy method (CEM): refit a diagonal Gaussian over action sequences to the elites.

Each iteration samples ``samples`` sequences ``[H, A]`` around the current mean (the mean itself is
always one of them), clamps them to the bounds, scores them in one batched rollout, and moves the
mean/std toward the ``elites`` best, with momentum. The returned plan is the lowest-cost sequence
*evaluated* during the search (the final mean is evaluated too), so ``PlanResult.cost`` is a real
predicted cost and never worse than any candidate seen. ``execute="mean"`` returns the final mean
instead: the argmin of thousands of noisy predictions can favour a sequence whose cost the model
underestimates, which the mean of the elites averages out (on PointMaze it did not change the
success rate; see the README).
"""
from __future__ import annotations

import dataclasses

import torch

from planners.base import BestSoFar, Planner, PlannerConfig, PlanResult, require_positive_int
from planners.protocol import Latent, WorldModel


@dataclasses.dataclass
class CEMConfig(PlannerConfig):
    """CEM settings (standard deviations are relative to the bounds' half-width).

    Attributes:
        samples: candidate sequences per iteration (the current mean included).
        iterations: refits of the Gaussian.
        elites: best candidates the Gaussian is refit to.
        init_std: initial std, in half-widths: ``init_std * (high - low) / 2`` action units.
        min_std: floor of the std, in half-widths (keeps the search from collapsing).
        momentum: ``new = momentum * old + (1 - momentum) * elite statistic`` (mean and std).
        execute: ``"best"`` returns the lowest-cost sequence evaluated, ``"mean"`` the final mean.
    """

    samples: int = 300
    iterations: int = 10
    elites: int = 30
    init_std: float = 1.0
    min_std: float = 0.05
    momentum: float = 0.1
    execute: str = "best"

    def __post_init__(self):
        super().__post_init__()
        require_positive_int("samples", self.samples)
        require_positive_int("iterations", self.iterations)
        require_positive_int("elites", self.elites)
        if self.samples < 2:
            raise ValueError(f"samples must be >= 2 (the mean plus a sample), got {self.samples}")
        if self.elites > self.samples:
            raise ValueError(f"elites ({self.elites}) must not exceed samples ({self.samples})")
        if self.init_std <= 0:
            raise ValueError(f"init_std must be > 0, got {self.init_std}")
        if self.min_std < 0:
            raise ValueError(f"min_std must be >= 0, got {self.min_std}")
        if not 0 <= self.momentum < 1:
            raise ValueError(f"momentum must be in [0, 1), got {self.momentum}")
        if self.execute not in ("best", "mean"):
            raise ValueError(f"execute must be 'best' or 'mean', got {self.execute!r}")


class CEM(Planner):
    """Cross-entropy method over whole action sequences; see the module docstring."""

    cfg: CEMConfig

    def __init__(self, cfg: CEMConfig | None = None):
        super().__init__(cfg or CEMConfig())

    def plan(self, model: WorldModel, start: Latent, goal: Latent) -> PlanResult:
        self.check_inputs(start, goal)
        cfg, device = self.cfg, model.device
        mean = self.clamp(self.initial_mean(model.action_dim, device))
        std = torch.full_like(mean, cfg.init_std * self.half_width)
        min_std = cfg.min_std * self.half_width
        best, history = BestSoFar(), []
        with torch.no_grad():
            for _ in range(cfg.iterations):
                candidates = self.sample_around(mean, std, cfg.samples)
                costs = self.evaluate(model, start, goal, candidates)
                history.append(best.update(candidates, costs))
                safe = torch.nan_to_num(costs, nan=float("inf"))
                elite = candidates[torch.topk(safe, cfg.elites, largest=False).indices]
                elite_std = elite.std(0, unbiased=False)
                mean = cfg.momentum * mean + (1 - cfg.momentum) * elite.mean(0)
                std = (cfg.momentum * std + (1 - cfg.momentum) * elite_std).clamp_min(min_std)
        if cfg.execute == "mean":
            return self.finish_with(mean, history, model, start, goal)
        return self.finish(best, history, model, start, goal, mean[None])

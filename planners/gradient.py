"""Gradient planner: Adam on the action sequences, back-propagating the cost through the model.

All ``restarts`` sequences are optimised at once as one batch ``[R, H, A]`` (restart 0 starts from
the initial mean, the others from it plus Gaussian noise). The bounds are enforced by projection:
after each Adam step the actions are clamped to ``[action_low, action_high]`` (no tanh
reparametrisation, so an optimum on a bound is reached exactly and the gradient scale does not
depend on the bounds). Gradients are taken with :func:`torch.autograd.grad` with respect to the
actions only, so the model's parameters never accumulate ``.grad``. The returned plan is the
lowest-cost sequence evaluated over all restarts and iterations, the final iterate included.
"""
from __future__ import annotations

import dataclasses

import torch

from planners.base import BestSoFar, Planner, PlannerConfig, PlanResult, require_positive_int
from planners.protocol import Latent, WorldModel


@dataclasses.dataclass
class GradientConfig(PlannerConfig):
    """Gradient-planner settings.

    Attributes:
        iterations: Adam steps.
        lr: Adam learning rate, in action units.
        restarts: sequences optimised in parallel (the best one is returned).
        init_std: std of the restarts' initial noise, in half-widths of the bounds.
    """

    iterations: int = 50
    lr: float = 0.1
    restarts: int = 4
    init_std: float = 0.3

    def __post_init__(self):
        super().__post_init__()
        require_positive_int("iterations", self.iterations)
        require_positive_int("restarts", self.restarts)
        if self.lr <= 0:
            raise ValueError(f"lr must be > 0, got {self.lr}")
        if self.init_std < 0:
            raise ValueError(f"init_std must be >= 0, got {self.init_std}")


class GradientPlanner(Planner):
    """Projected Adam over action sequences with restarts; see the module docstring."""

    cfg: GradientConfig

    def __init__(self, cfg: GradientConfig | None = None):
        super().__init__(cfg or GradientConfig())

    def plan(self, model: WorldModel, start: Latent, goal: Latent) -> PlanResult:
        self.check_inputs(start, goal)
        cfg, device = self.cfg, model.device
        start, goal = start.detach(), goal.detach()
        mean = self.initial_mean(model.action_dim, device)
        noise = self.randn(cfg.restarts - 1, *mean.shape, device=device)
        init = torch.cat([mean[None], mean + cfg.init_std * self.half_width * noise])
        actions = self.clamp(init).requires_grad_(True)
        optimizer = torch.optim.Adam([actions], lr=cfg.lr)
        best, history = BestSoFar(), []
        for _ in range(cfg.iterations):
            with torch.enable_grad():
                costs = self.evaluate(model, start, goal, actions)
                (grad,) = torch.autograd.grad(costs.sum(), actions)
            history.append(best.update(actions, costs))
            actions.grad = torch.nan_to_num(grad, nan=0.0, posinf=0.0, neginf=0.0)
            optimizer.step()
            with torch.no_grad():
                actions.copy_(self.clamp(actions))
        return self.finish(best, history, model, start, goal, actions.detach())

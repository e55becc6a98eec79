"""The "random actions" reference: uniform actions within the bounds, no world model involved."""
from __future__ import annotations

import torch

from planners.base import Planner, PlannerConfig, PlanResult
from planners.protocol import Latent, WorldModel


class RandomActions(Planner):
    """Plans ``[H, A]`` actions drawn uniformly in ``[action_low, action_high]`` (with ``hold``,
    ``ceil(H / hold)`` draws, each held).

    Only ``model.action_dim`` and ``model.device`` are read: the model is never rolled out, so the
    result's ``cost`` is NaN and ``costs`` is empty. Draws come from the planner's seeded generator.
    """

    def __init__(self, cfg: PlannerConfig | None = None):
        super().__init__(cfg or PlannerConfig())

    def plan(self, model: WorldModel, start: Latent, goal: Latent) -> PlanResult:
        low, high = self.cfg.action_low, self.cfg.action_high
        u = torch.rand(self.search_steps, model.action_dim, generator=self.generator)
        actions = (low + (high - low) * u).to(model.device)
        self.remember(actions)
        return PlanResult(actions=self.expand(actions), cost=float("nan"), costs=[])

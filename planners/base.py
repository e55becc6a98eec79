"""What every planner shares: the plan result, action bounds, and the warm start.

A planner searches action sequences ``[H, A]`` minimising a cost of the world model's predicted
latents against the goal latent. Planners keep their last plan: after the MPC loop executes ``m``
actions it calls :meth:`Planner.advance` and the next :meth:`Planner.plan` starts from the old plan
shifted by ``m`` steps (the tail filled with zeros).

With ``hold = r > 1`` a planner searches ``ceil(H / r)`` actions, each held for ``r`` model steps
(a piecewise-constant sequence): a long horizon at the search dimension of a short one. On Reach a
goal that needs the elbow swung through 4 rad lies outside what any 5-step search of the latent
cost can see and inside what an 8-step one can (``benchmarks/reach_lookahead.py``), but a
16-step search of 2-d actions is 32-dimensional; held 4 steps each it is 8-dimensional.

``hold`` may also be a list of block lengths summing to the horizon (move blocking, as in classic
MPC): ``hold=[1, 1, 1, 2, 3]`` plans 8 steps ahead with 5 searched actions, the near steps one by
one (precise near the goal) and the far ones coarsely (they only have to show where a move leads).
"""
from __future__ import annotations

import abc
import dataclasses
from collections.abc import Mapping, Sequence

import torch

from planners.costs import CostConfig, latent_cost
from planners.protocol import Latent, WorldModel


@dataclasses.dataclass
class PlanResult:
    """A plan and how the search went.

    Attributes:
        actions: the planned sequence ``[H, A]`` (first action first), within the bounds.
        cost: the world model's predicted cost of ``actions``.
        costs: the best cost after each iteration (for the cost-per-iteration plot).
    """

    actions: torch.Tensor
    cost: float
    costs: list[float]


@dataclasses.dataclass
class PlannerConfig:
    """Settings shared by all planners.

    Attributes:
        horizon: planning steps ``H`` (each a model step: an action chunk).
        action_low / action_high: per-step bound on every action entry (within the env's [-1, 1]).
        warm_start: start from the previous plan shifted by the executed steps.
        seed: seed of the planner's own random numbers.
        cost: how predicted latents are scored against the goal.
        hold: model steps each searched action is held for; the search covers
            ``ceil(horizon / hold)`` actions and the plan repeats each ``hold`` times (1 = every
            step searched on its own). A list gives each searched action its own block length
            (``[1, 1, 2, 4]``: 4 actions over 8 steps); it must sum to ``horizon``.
    """

    horizon: int = 5
    action_low: float = -1.0
    action_high: float = 1.0
    warm_start: bool = True
    seed: int = 0
    cost: CostConfig = dataclasses.field(default_factory=CostConfig)
    hold: int | tuple[int, ...] = 1

    def __post_init__(self):
        require_positive_int("horizon", self.horizon)
        if isinstance(self.hold, Sequence) and not isinstance(self.hold, str):
            self.hold = tuple(self.hold)
            if not self.hold:
                raise ValueError("hold must be a positive integer or a non-empty list of them")
            for length in self.hold:
                require_positive_int("every hold block length", length)
            if sum(self.hold) != self.horizon:
                raise ValueError(f"hold blocks {list(self.hold)} cover {sum(self.hold)} steps, "
                                 f"but horizon is {self.horizon}: they must sum to it")
        else:
            require_positive_int("hold", self.hold)
        if not self.action_low < self.action_high:
            raise ValueError(f"action_low ({self.action_low}) must be below action_high "
                             f"({self.action_high})")
        if isinstance(self.cost, Mapping):
            self.cost = CostConfig(**dict(self.cost))


class Planner(abc.ABC):
    """Base class: bounds, seeded generator, warm start, and the cost of candidate sequences."""

    cfg: PlannerConfig

    def __init__(self, cfg: PlannerConfig):
        self.cfg = cfg
        self.generator = torch.Generator().manual_seed(cfg.seed)
        self._previous: torch.Tensor | None = None  # last plan [K, A] (K searched steps)

    @property
    def blocks(self) -> tuple[int, ...]:
        """Model steps each searched action is held for (they sum to the horizon)."""
        hold, horizon = self.cfg.hold, self.cfg.horizon
        if isinstance(hold, tuple):
            return hold
        full, rest = divmod(horizon, hold)
        return (hold,) * full + ((rest,) if rest else ())

    @property
    def search_steps(self) -> int:
        """How many actions the search optimises: ``ceil(horizon / hold)``, or the number of
        blocks of a ``hold`` list."""
        return len(self.blocks)

    def expand(self, actions: torch.Tensor) -> torch.Tensor:
        """Searched actions ``[..., K, A]`` -> the sequence the model runs ``[..., H, A]``
        (each held for its block's steps)."""
        blocks = self.blocks
        if len(blocks) == self.cfg.horizon:
            return actions
        repeats = torch.tensor(blocks, device=actions.device)
        return actions.repeat_interleave(repeats, dim=-2)

    # -------------------------------------------------------------- warm start
    def reset(self, seed: int | None = None) -> None:
        """Forget the previous plan (a new episode); optionally reseed."""
        self._previous = None
        if seed is not None:
            self.generator.manual_seed(seed)

    def advance(self, executed: int) -> None:
        """The MPC loop executed the first ``executed`` actions of the last plan: shift it."""
        if self._previous is None or executed <= 0:
            return
        shifted = shift_plan(self.expand(self._previous), executed)
        blocks = self.blocks
        if len(blocks) < shifted.shape[0]:   # back to searched steps: each block's first action
            starts = [sum(blocks[:i]) for i in range(len(blocks))]
            shifted = shifted[starts]
        self._previous = shifted

    def initial_mean(self, action_dim: int, device: torch.device) -> torch.Tensor:
        """Where the search starts: the shifted previous plan, or zeros ``[K, A]`` (``K`` =
        :attr:`search_steps`)."""
        if self.cfg.warm_start and self._previous is not None \
                and self._previous.shape == (self.search_steps, action_dim):
            return self._previous.to(device)
        return torch.zeros(self.search_steps, action_dim, device=device)

    def remember(self, actions: torch.Tensor) -> None:
        self._previous = actions.detach().clone()

    # -------------------------------------------------------------- search
    @property
    def half_width(self) -> float:
        """Half the width of the action bounds (the unit of the planners' noise scales)."""
        return (self.cfg.action_high - self.cfg.action_low) / 2

    def randn(self, *shape: int, device: torch.device | str = "cpu") -> torch.Tensor:
        """Standard normal noise from the planner's generator, drawn on the CPU (so a seed gives
        the same numbers on every device) and moved to ``device``."""
        return torch.randn(*shape, generator=self.generator).to(device)

    def clamp(self, actions: torch.Tensor) -> torch.Tensor:
        return actions.clamp(self.cfg.action_low, self.cfg.action_high)

    def sample_around(self, mean: torch.Tensor, std: torch.Tensor | float,
                      samples: int) -> torch.Tensor:
        """``samples`` candidates ``[N, K, A]`` within the bounds: ``mean`` itself, then
        ``mean + std * noise`` from the planner's generator."""
        noise = self.randn(samples - 1, *mean.shape, device=mean.device)
        return self.clamp(torch.cat([mean[None], mean + std * noise]))

    def finish(self, best: "BestSoFar", history: list[float], model: WorldModel, start: Latent,
               goal: Latent, final: torch.Tensor) -> PlanResult:
        """Score the search's final sequences ``final [N, K, A]`` too (the last entry of
        ``history`` becomes the best cost including them), remember the best plan, return it."""
        with torch.no_grad():
            history[-1] = best.update(final, self.evaluate(model, start, goal, final))
        assert best.actions is not None
        self.remember(best.actions)
        return PlanResult(actions=self.expand(best.actions), cost=best.cost, costs=history)

    def finish_with(self, actions: torch.Tensor, history: list[float], model: WorldModel,
                    start: Latent, goal: Latent) -> PlanResult:
        """Return (and remember) the searched sequence ``actions [K, A]`` itself, whatever the
        search saw, with its own predicted cost; ``history`` stays the search's best cost per
        iteration."""
        with torch.no_grad():
            cost = float(self.evaluate(model, start, goal, actions[None])[0])
        self.remember(actions)
        return PlanResult(actions=self.expand(actions.detach().clone()), cost=cost, costs=history)

    def evaluate(self, model: WorldModel, start: Latent, goal: Latent,
                 actions: torch.Tensor) -> torch.Tensor:
        """Predicted cost ``[N]`` of searched sequences ``actions [N, K, A]`` (run held)."""
        return latent_cost(model.rollout(start, self.expand(actions)), goal, self.cfg.cost)

    def check_inputs(self, start: Latent, goal: Latent) -> None:
        """Raise ``ValueError`` unless ``start`` and ``goal`` are batch-1 latents."""
        for name, latent in (("start", start), ("goal", goal)):
            if latent.batch_size != 1:
                raise ValueError(f"plan() needs a batch-1 {name} latent, "
                                 f"got batch {latent.batch_size}")

    @abc.abstractmethod
    def plan(self, model: WorldModel, start: Latent, goal: Latent) -> PlanResult:
        """Search from ``start`` (batch 1) toward ``goal`` (batch 1); remembers the plan."""


class BestSoFar:
    """The lowest-cost sequence among all candidates evaluated so far."""

    def __init__(self) -> None:
        self.actions: torch.Tensor | None = None
        self.cost = float("inf")

    def update(self, actions: torch.Tensor, costs: torch.Tensor) -> float:
        """Consider candidates ``actions [N, H, A]`` with costs ``[N]``; return the best cost."""
        costs = torch.nan_to_num(costs.detach(), nan=float("inf"))
        i = int(torch.argmin(costs))
        if float(costs[i]) < self.cost or self.actions is None:
            self.cost = float(costs[i])
            self.actions = actions[i].detach().clone()
        return self.cost


def require_positive_int(name: str, value: int) -> None:
    """Raise ``ValueError`` unless ``value`` is an integer >= 1."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")


def shift_plan(plan: torch.Tensor, executed: int) -> torch.Tensor:
    """Drop the first ``executed`` steps of ``plan [H, A]`` and pad the end with zeros."""
    if executed >= plan.shape[0]:
        return torch.zeros_like(plan)
    return torch.cat([plan[executed:], torch.zeros_like(plan[:executed])])

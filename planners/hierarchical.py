"""Two-level planning: a high-level planner over macro-actions picks a subgoal, a low-level
planner reaches it.

The world model must expose its macro-action level as ``model.high`` (a world model whose actions
are macro-actions and whose one step is ``model.k`` low-level steps, predicting latents in the
low level's space; :class:`worldmodel.world_model.HierWorldModel`). Every ``high_every`` executed
low-level steps (default ``k``) the high-level planner searches macro-action sequences toward the
goal; the first latent its best plan predicts becomes the subgoal. At every call the low-level
planner plans toward the current subgoal. Each level keeps its own warm start: the low one is
shifted by the executed steps, the high one by one macro step whenever a subgoal expires.

Example::

    planner = make_planner("hier", high={"planner": "cem", "horizon": 3},
                           low={"planner": "cem", "horizon": 5, "samples": 200})
    result = planner.plan(model, start, goal)     # low-level actions toward the subgoal
"""
from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

import torch

from planners.base import Planner, PlannerConfig, PlanResult
from planners.costs import distance
from planners.protocol import Latent, WorldModel

#: the high-level planner's defaults (CEM over macro-actions in [-1, 1])
#: (final-step cost plus a small path term: a summed cost alone is greedy and stays behind a
#: wall; a final cost alone leaves the first subgoal free to wander wherever the goal is still
#: reachable from, which the path term removes)
HIGH_DEFAULTS: dict[str, Any] = {"planner": "cem", "horizon": 3, "samples": 200,
                                 "iterations": 6, "elites": 20,
                                 "cost": {"reduce": "final", "path_weight": 0.2}}
#: the low-level planner's defaults (a cost summed over the steps: the subgoal is at most a macro
#: step away, so the plan should reach it early and stay; a final-step cost lets the executed
#: first actions wander and loses goals already reached)
LOW_DEFAULTS: dict[str, Any] = {"planner": "cem", "horizon": 5, "samples": 200,
                                "iterations": 8, "elites": 20, "cost": {"reduce": "sum"}}


@dataclasses.dataclass
class HierConfig(PlannerConfig):
    """Settings of the two-level planner.

    Attributes:
        high: the high-level planner, ``{"planner": name, **its settings}`` (over macro-actions).
        low: the low-level planner, ``{"planner": name, **its settings}`` (over actions).
        high_every: executed low-level steps between two high-level searches; 0 = the model's
            ``k`` (replan the subgoal once it should have been reached).
        subgoal_step: which step of the high-level plan's prediction is the subgoal (1 = the
            first, ``k`` low-level steps ahead).
        goal_switch: hand the low level the goal itself once the high-level plan predicts that
            the steps after the subgoal gain less than this fraction of the current distance to
            the goal: the goal is then about one macro step away, and a predicted subgoal would
            only add the high level's error. From then on the episode's subgoal stays the goal
            (the final approach). Negative: never.
        goal_near: also hand over the goal once the current latent distance to the goal is at most
            ``goal_near`` times the distance from the current latent to the predicted subgoal
            (the goal is nearer than one macro step's move; near the goal the relative test above
            rarely fires, since the current distance it scales is small). 0: off.

    ``horizon`` / ``cost`` / bounds of the base config are the low level's (set from ``low``).
    """

    high: dict[str, Any] = dataclasses.field(default_factory=dict)
    low: dict[str, Any] = dataclasses.field(default_factory=dict)
    high_every: int = 0
    subgoal_step: int = 1
    goal_switch: float = 0.1
    goal_near: float = 0.0

    def __post_init__(self):
        self.high = _with_defaults(HIGH_DEFAULTS, self.high)
        self.low = _with_defaults(LOW_DEFAULTS, self.low)
        for level in (self.high, self.low):
            if level["planner"] == "hier":
                raise ValueError("the levels of planner=hier must be flat planners "
                                 "(cem, mppi, gradient, random)")
            level.setdefault("seed", self.seed)
        self.horizon = int(self.low["horizon"])
        if isinstance(self.high_every, bool) or not isinstance(self.high_every, int) \
                or self.high_every < 0:
            raise ValueError(f"high_every must be an integer >= 0, got {self.high_every!r}")
        if not self.goal_near >= 0:
            raise ValueError(f"goal_near must be >= 0 (0 = off), got {self.goal_near!r}")
        if isinstance(self.subgoal_step, bool) or not isinstance(self.subgoal_step, int) \
                or not 1 <= self.subgoal_step <= int(self.high["horizon"]):
            raise ValueError(f"subgoal_step must be in [1, high.horizon="
                             f"{self.high['horizon']}], got {self.subgoal_step!r}")
        super().__post_init__()


def _with_defaults(defaults: Mapping[str, Any], level: Mapping[str, Any]) -> dict[str, Any]:
    """A level's settings over its defaults, the ``cost`` mapping merged key by key."""
    return {**defaults, **level,
            "cost": {**defaults["cost"], **dict(level.get("cost") or {})}}


def _build(level: Mapping[str, Any]) -> Planner:
    from planners.registry import make_planner

    settings = dict(level)
    return make_planner(settings.pop("planner"), **settings)


class HierarchicalPlanner(Planner):
    """High-level subgoal search + low-level planning to the subgoal; see the module docstring."""

    cfg: HierConfig

    def __init__(self, cfg: HierConfig | None = None):
        super().__init__(cfg or HierConfig())
        self.high = _build(self.cfg.high)
        self.low = _build(self.cfg.low)
        self.subgoal: Latent | None = None
        self.since_subgoal = 0          # executed low-level steps since the last high-level search
        self.high_costs: list[float] = []   # the high level's best cost per iteration, last search
        self.switched_to_goal = False       # whether the last search handed over the goal itself

    def reset(self, seed: int | None = None) -> None:
        super().reset(seed)
        self.high.reset(seed)
        self.low.reset(None if seed is None else seed + 1)
        self.subgoal, self.since_subgoal, self.switched_to_goal = None, 0, False

    def advance(self, executed: int) -> None:
        self.low.advance(executed)
        self.since_subgoal += max(executed, 0)

    def _period(self, model: WorldModel) -> int:
        return self.cfg.high_every or int(model.k)

    def plan_subgoal(self, model: WorldModel, start: Latent, goal: Latent) -> Latent:
        """Search macro-actions from ``start`` toward ``goal``; the predicted latent at
        ``subgoal_step`` of the best plan (batch 1), or ``goal`` itself when the plan predicts
        no gain beyond that step or the goal is nearer than the subgoal (see ``goal_switch``,
        ``goal_near``)."""
        result = self.high.plan(model.high, start, goal)
        self.high_costs = list(result.costs)
        step = self.cfg.subgoal_step - 1
        with torch.no_grad():
            pred = model.high.rollout(start, result.actions[None].to(model.high.device))
            if self.cfg.goal_switch >= 0 or self.cfg.goal_near > 0:
                metric = self.high.cfg.cost.metric
                dist = distance(pred.z[0], goal.z, metric, dims=goal.z.ndim - 1)   # [H]
                now = float(distance(start.z, goal.z, metric, dims=goal.z.ndim - 1)[0])
                gain_after = float(dist[step]) - float(dist[step:].min())
                move = float(distance(pred.z[0, step], start.z[0], metric,
                                      dims=goal.z.ndim - 1))
                if (self.cfg.goal_switch >= 0 and gain_after <= self.cfg.goal_switch * now) \
                        or now <= self.cfg.goal_near * move:
                    self.switched_to_goal = True
                    return goal
        self.switched_to_goal = False
        return pred.step(step).detach()

    def plan(self, model: WorldModel, start: Latent, goal: Latent) -> PlanResult:
        self.check_inputs(start, goal)
        if not hasattr(model, "high") or not hasattr(model, "k"):
            raise ValueError("planner=hier needs a hierarchical world model (its macro-action "
                             "level as model.high, e.g. a `wm train model=hier` checkpoint); "
                             f"got {type(model).__name__}")
        if self.switched_to_goal:
            self.subgoal = goal                 # the final approach: no more subgoals
        elif self.subgoal is None or self.since_subgoal >= self._period(model):
            if self.subgoal is not None:
                self.high.advance(1)        # one macro step of the old high-level plan is done
            self.subgoal = self.plan_subgoal(model, start, goal)
            self.since_subgoal = 0
        result = self.low.plan(model, start, self.subgoal)
        self.remember(result.actions)
        return result

"""Planners by name, and :func:`make_planner` to build one from (Hydra) keyword settings."""
from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from planners.base import Planner, PlannerConfig
from planners.cem import CEM, CEMConfig
from planners.costs import CostConfig
from planners.gradient import GradientConfig, GradientPlanner
from planners.hierarchical import HierarchicalPlanner, HierConfig
from planners.mppi import MPPI, MPPIConfig
from planners.random_actions import RandomActions

PLANNERS: dict[str, tuple[type[Planner], type[PlannerConfig]]] = {
    "cem": (CEM, CEMConfig),
    "mppi": (MPPI, MPPIConfig),
    "gradient": (GradientPlanner, GradientConfig),
    "random": (RandomActions, PlannerConfig),
    "hier": (HierarchicalPlanner, HierConfig),
}


def make_planner(name: str, **kwargs: Any) -> Planner:
    """Build planner ``name`` with config fields ``kwargs`` (``cost`` may be a mapping).

    Example::

        planner = make_planner("cem", horizon=8, samples=500, cost={"metric": "l2"})
    """
    if name not in PLANNERS:
        raise ValueError(f"unknown planner {name!r}; known: {', '.join(PLANNERS)}")
    planner_cls, config_cls = PLANNERS[name]
    valid = [f.name for f in dataclasses.fields(config_cls)]
    unknown = sorted(set(kwargs) - set(valid))
    if unknown:
        raise ValueError(f"unknown setting(s) {unknown} for planner {name!r}; "
                         f"valid: {', '.join(valid)}")
    cost = kwargs.get("cost")
    if isinstance(cost, Mapping):
        valid_cost = [f.name for f in dataclasses.fields(CostConfig)]
        unknown = sorted(set(cost) - set(valid_cost))
        if unknown:
            raise ValueError(f"unknown cost setting(s) {unknown}; valid: {', '.join(valid_cost)}")
        kwargs["cost"] = CostConfig(**dict(cost))
    return planner_cls(config_cls(**kwargs))

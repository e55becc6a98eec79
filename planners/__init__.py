"""Planners (CEM, MPPI, gradient, hierarchical) and the MPC loop; they see world models only
through a small protocol (encode, rollout, distance)."""
from planners.base import Planner, PlannerConfig, PlanResult
from planners.cem import CEM, CEMConfig
from planners.costs import CostConfig, latent_cost
from planners.gradient import GradientConfig, GradientPlanner
from planners.mppi import MPPI, MPPIConfig
from planners.protocol import Latent, WorldModel
from planners.random_actions import RandomActions
from planners.registry import PLANNERS, make_planner

__all__ = [
    "CEM",
    "MPPI",
    "PLANNERS",
    "CEMConfig",
    "CostConfig",
    "GradientConfig",
    "GradientPlanner",
    "Latent",
    "MPPIConfig",
    "PlanResult",
    "Planner",
    "PlannerConfig",
    "RandomActions",
    "WorldModel",
    "latent_cost",
    "make_planner",
]

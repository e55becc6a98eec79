"""Goal-conditioned MuJoCo tasks (gymnasium API), rendering and data collection.

Importing this package sets ``MUJOCO_GL=egl`` when unset (headless rendering) and registers the
tasks with gymnasium as ``wm/Reach-v0``, ``wm/PointMaze-v0`` and ``wm/Push-v0``.
"""
from envs import rendering  # noqa: F401  (first: sets MUJOCO_GL before mujoco is imported)
from envs.registry import TASKS, make_env  # noqa: E402

__all__ = ["TASKS", "make_env"]

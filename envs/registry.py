"""Task names, gymnasium registration and :func:`make_env`."""
from __future__ import annotations

import importlib
from typing import Any

import gymnasium as gym

#: config name -> (gymnasium id, "module:Class")
TASKS: dict[str, tuple[str, str]] = {
    "reach": ("wm/Reach-v0", "envs.reach:ReachEnv"),
    "pointmaze": ("wm/PointMaze-v0", "envs.pointmaze:PointMazeEnv"),
    "push": ("wm/Push-v0", "envs.push:PushEnv"),
    "gym": ("", "envs.gym_wrapper:GymGoalEnv"),
}


def task_class(name: str):
    """The environment class registered under config name ``name``."""
    if name not in TASKS:
        raise ValueError(f"unknown env {name!r}; known envs: {', '.join(sorted(TASKS))}")
    module, cls = TASKS[name][1].split(":")
    return getattr(importlib.import_module(module), cls)


def make_env(name: str, **kwargs: Any):
    """Build task ``name`` (``reach``, ``pointmaze``, ``push`` or ``gym`` with ``id=...``).

    Keyword arguments go to the task's constructor (``image_size``, ``action_repeat``, ...).
    """
    return task_class(name)(**kwargs)


def split_name(cfg: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """``{"name": n, **kwargs}`` (an env or policy config) -> ``(n, kwargs)``."""
    kwargs = dict(cfg)
    if "name" not in kwargs:
        raise ValueError(f"config {cfg!r} has no 'name'")
    return kwargs.pop("name"), kwargs


def make_env_from_config(cfg: dict[str, Any]):
    """Build a task from its config dict (``configs/env/*.yaml`` or a dataset's ``meta.env``)."""
    name, kwargs = split_name(cfg)
    return make_env(name, **kwargs)


for _name, (_gym_id, _entry) in TASKS.items():
    if _gym_id and _gym_id not in gym.registry:
        gym.register(id=_gym_id, entry_point=_entry)

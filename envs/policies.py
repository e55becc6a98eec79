"""Exploration policies for data collection: ``random``, ``noise`` (temporally correlated) and, for
Push, ``scripted`` (a noisy pusher that really moves the block).

A policy has ``reset(seed)`` and ``__call__(obs) -> action`` with actions in ``[-1, 1]^A``.
"""
from __future__ import annotations

from typing import Any

import numpy as np


class RandomPolicy:
    """Independent uniform actions in ``[-1, 1]^A``."""

    def __init__(self, env, seed: int = 0):
        self.action_dim = env.action_space.shape[0]
        self.reset(seed)

    def reset(self, seed: int) -> None:
        self.rng = np.random.default_rng(seed)

    def __call__(self, obs: Any = None) -> np.ndarray:
        return self.rng.uniform(-1.0, 1.0, self.action_dim).astype(np.float32)


class CorrelatedNoisePolicy:
    """AR(1) Gaussian noise ``a_t = rho * a_{t-1} + sqrt(1 - rho^2) * sigma * eps``, clipped.

    ``rho`` near 1 gives long smooth motions (better coverage of far states than uniform noise).
    With probability ``hold`` a step's action is zero (the agent holds still), so the data also
    shows what "stay" does: a planner that must stop at its goal needs a model that knows it.
    """

    def __init__(self, env, seed: int = 0, rho: float = 0.8, sigma: float = 0.8,
                 hold: float = 0.0):
        if not 0.0 <= rho < 1.0:
            raise ValueError(f"policy=noise: rho must be in [0, 1), got {rho}")
        if not 0.0 <= hold < 1.0:
            raise ValueError(f"policy=noise: hold must be in [0, 1), got {hold}")
        self.action_dim = env.action_space.shape[0]
        self.rho, self.sigma, self.hold = float(rho), float(sigma), float(hold)
        self.reset(seed)

    def reset(self, seed: int) -> None:
        self.rng = np.random.default_rng(seed)
        self.prev = self.rng.normal(0.0, self.sigma, self.action_dim)

    def __call__(self, obs: Any = None) -> np.ndarray:
        eps = self.rng.normal(0.0, self.sigma, self.action_dim)
        self.prev = self.rho * self.prev + np.sqrt(1.0 - self.rho**2) * eps
        if self.hold and self.rng.random() < self.hold:
            return np.zeros(self.action_dim, np.float32)
        return np.clip(self.prev, -1.0, 1.0).astype(np.float32)


def make_policy(name: str, env, seed: int = 0, **kwargs: Any):
    """Build exploration policy ``name`` for ``env``."""
    if name == "random":
        return RandomPolicy(env, seed=seed)
    if name == "noise":
        return CorrelatedNoisePolicy(env, seed=seed, **kwargs)
    if name == "scripted":
        from envs.push import PushEnv, ScriptedPusher
        if not isinstance(env, PushEnv):
            raise ValueError(f"policy=scripted exists only for env=push, not {type(env).__name__}")
        return ScriptedPusher(env, seed=seed, **kwargs)
    raise ValueError(f"unknown policy {name!r}; known: random, noise, scripted (push only)")

"""Shared fixtures: small datasets collected once per test session."""
from __future__ import annotations

import pytest

from envs.collect import CollectConfig, collect


def small_collect(out, **overrides) -> CollectConfig:
    """A tiny, fast collection config (one process, no preview, no progress bar)."""
    cfg = dict(env={"name": "reach", "image_size": 32}, episodes=6, steps=12, out=str(out),
               seed=3, workers=1, preview=0, progress=False)
    cfg.update(overrides)
    return CollectConfig(**cfg)


@pytest.fixture(scope="session")
def reach_data(tmp_path_factory):
    """A 6-episode, 12-step Reach dataset at 32x32."""
    out = tmp_path_factory.mktemp("reach_data")
    return collect(small_collect(out))

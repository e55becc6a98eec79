"""Shared fixtures: small datasets collected once per test session."""
from __future__ import annotations

import pytest

from envs.collect import CollectConfig, collect

#: a tiny encoder architecture for fast tests (width 48, 2 blocks)
TINY_ENCODER = {"size": "tiny", "dim": 48, "depth": 2, "heads": 2}


def small_collect(out, **overrides) -> CollectConfig:
    """A tiny, fast collection config (one process, no preview, no progress bar)."""
    cfg = dict(env={"name": "reach", "image_size": 32}, episodes=6, steps=12, out=str(out),
               seed=3, workers=1, preview=0, progress=False)
    cfg.update(overrides)
    return CollectConfig(**cfg)


def ac_train_config(data, out, steps=60, **overrides):
    """A small, fast ``wm train`` config on a random tiny encoder (CPU, no progress bars)."""
    from worldmodel.ac_train import ACTrainConfig
    from worldmodel.train import TrainConfig

    cfg = dict(data_dir=str(data), out=str(out), encoder="random", random_encoder=TINY_ENCODER,
               pool=2, num_frames=3, predictor={"dim": 32, "depth": 2, "heads": 2},
               progress=False,
               train=TrainConfig(steps=steps, batch_size=16, lr=3e-3, warmup=5, cooldown=10,
                                 log_every=5, ckpt_every=20, progress=False, device="cpu"))
    cfg.update(overrides)
    return ACTrainConfig(**cfg)


@pytest.fixture(scope="session")
def reach_data(tmp_path_factory):
    """A 6-episode, 12-step Reach dataset at 32x32."""
    out = tmp_path_factory.mktemp("reach_data")
    return collect(small_collect(out))


@pytest.fixture(scope="session")
def pretrain_checkpoint(reach_data, tmp_path_factory):
    """A V-JEPA checkpoint from 3 steps of pretraining on the 32x32 Reach data."""
    from worldmodel.pretrain import PretrainConfig, pretrain
    from worldmodel.train import TrainConfig

    out = tmp_path_factory.mktemp("pretrain")
    summary = pretrain(PretrainConfig(
        data_dirs=[str(reach_data)], out=str(out), num_frames=2, encoder=TINY_ENCODER,
        predictor={"dim": 24, "depth": 1, "heads": 2},
        train=TrainConfig(steps=3, batch_size=4, progress=False, warmup=1, cooldown=1,
                          device="cpu")))
    return summary["checkpoint"]

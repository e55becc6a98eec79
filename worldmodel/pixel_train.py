"""Training the pixel world-model baseline (``wm train model=pixel``).

The same trajectories as the latent model, but the model predicts raw frames: clips of
``num_frames`` frames with their action chunks train :class:`~worldmodel.pixel_model.
PixelWorldModelNet` with pixel MSE (teacher forcing plus a ``rollout_steps``-step rollout) through
the shared :class:`~worldmodel.train.Trainer` (checkpoints, exact resume, logging, DDP, progress).
Frames travel as uint8 and become floats on the model's device.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np
import torch
from einops import rearrange
from torch import nn
from torch.utils.data import Dataset

from worldmodel.data.dataset import (action_chunks, clip_starts, resolve_stride,
                                      training_episodes)
from worldmodel.data.storage import EpisodeStore
from worldmodel.models import count_parameters
from worldmodel.models.pixel_predictor import PixelPredictorConfig
from worldmodel.pixel_model import KIND, PixelWorldModelNet, architecture
from worldmodel.train import TrainConfig, Trainer

__all__ = ["FrameClipDataset", "PixelObjective", "PixelTrainConfig", "train_pixel_model"]


@dataclasses.dataclass
class PixelTrainConfig:
    """Data and model settings of ``wm train model=pixel`` (optimisation lives in ``train``).

    Attributes:
        channels: widths of the encoder's three stride-2 stages (the last is the hidden state's).
        blocks: action-conditioned residual blocks per model step.
        num_frames: frames per training clip (``num_frames - 1`` transitions).
        stride: environment steps per model step (0: the task's default ``frameskip``); the
            ``stride`` actions in between form one action chunk.
        rollout_steps / rollout_weight: ``k`` and weight of the autoregressive rollout loss.
        episodes: use only the first N training episodes (data-efficiency studies); 0 = all.
        progress: show the training progress bar (with ``train.progress``).
    """

    data_dir: str = "runs/reach/data"
    out: str = "runs/reach/pixel_model"
    channels: list[int] = dataclasses.field(default_factory=lambda: [16, 16, 32])
    blocks: int = 1
    num_frames: int = 6
    stride: int = 0
    rollout_steps: int = 4
    rollout_weight: float = 1.0
    val_fraction: float = 0.1
    episodes: int = 0
    progress: bool = True
    train: TrainConfig = dataclasses.field(default_factory=TrainConfig)


class FrameClipDataset(Dataset):
    """Clips of frames with their action chunks from the episodes ``episodes`` of a dataset.

    Items: ``frames`` uint8 ``[n, 3, S, S]`` and ``actions`` float32 ``[n-1, stride*A]``.
    Frames are read from the memory-mapped episode files on access.
    """

    def __init__(self, store: EpisodeStore, episodes: np.ndarray, num_frames: int, stride: int):
        if num_frames < 2:
            raise ValueError(f"num_frames must be >= 2 (a clip needs a transition), "
                             f"got {num_frames}")
        if stride < 1:
            raise ValueError(f"stride must be >= 1, got {stride}")
        self.index = clip_starts(store, episodes, num_frames, stride)
        self.data_dir, self.n, self.stride = store.data_dir, num_frames, stride
        self.actions = {int(e): np.array(store[int(e)]["actions"]) for e in episodes}
        self._store: EpisodeStore | None = None  # opened lazily (memory maps do not pickle)

    def __len__(self) -> int:
        return len(self.index)

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_store": None}

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        if self._store is None:
            self._store = EpisodeStore(self.data_dir)
        e, t = self.index[i]
        s, n = self.stride, self.n
        pixels = self._store[e]["pixels"][t: t + (n - 1) * s + 1: s]
        return {"frames": torch.from_numpy(np.ascontiguousarray(
                    rearrange(pixels, "n h w c -> n c h w"))),
                "actions": action_chunks(self.actions[e], t, n, s)}


class PixelObjective(nn.Module):
    """The training objective for the Trainer: a batch of uint8 frame clips in, loss out."""

    def __init__(self, net: PixelWorldModelNet):
        super().__init__()
        self.net = net

    def forward(self, batch: dict[str, torch.Tensor], generator: torch.Generator):
        return self.net.losses(batch["frames"], batch["actions"])


def train_pixel_model(cfg: PixelTrainConfig) -> dict[str, Any]:
    """Train (or resume) the pixel world model; returns the training summary."""
    store = EpisodeStore(cfg.data_dir)
    meta = store.meta
    cfg = dataclasses.replace(cfg, stride=resolve_stride(cfg.stride, meta.task))
    train_eps, val_eps = training_episodes(len(store), cfg.val_fraction, cfg.episodes)
    data = FrameClipDataset(store, train_eps, cfg.num_frames, cfg.stride)
    val = FrameClipDataset(store, val_eps, cfg.num_frames, cfg.stride) if len(val_eps) else None
    torch.manual_seed(cfg.train.seed)
    net = PixelWorldModelNet(PixelPredictorConfig(image_size=meta.image_size,
                                                  action_dim=meta.action_dim * cfg.stride,
                                                  channels=tuple(cfg.channels),
                                                  blocks=cfg.blocks),
                             cfg.rollout_steps, cfg.rollout_weight)
    run_meta = {"task": meta.task, "env": meta.env, "image_size": meta.image_size,
                "env_action_dim": meta.action_dim, "stride": cfg.stride,
                "data_dir": str(cfg.data_dir), "train_episodes": len(train_eps),
                "config": {k: v for k, v in dataclasses.asdict(cfg).items() if k != "train"}}
    train = dataclasses.replace(cfg.train, out=str(Path(cfg.out)),
                                progress=cfg.train.progress and cfg.progress)
    trainer = Trainer(PixelObjective(net), data, train, kind=KIND, arch=architecture(net),
                      meta=run_meta, val_dataset=val)
    if trainer.dist.is_main:
        print(f"pixel world model: {count_parameters(net) / 1e6:.2f}M params "
              f"({meta.image_size}x{meta.image_size} frames, hidden {tuple(cfg.channels)[-1]}x"
              f"{net.predictor.cfg.hidden_size}x{net.predictor.cfg.hidden_size}); {len(data)} "
              f"train clips from {len(train_eps)} episodes of {meta.task}")
    summary = trainer.fit()
    trainer.close()
    return summary

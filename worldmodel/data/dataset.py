"""PyTorch datasets of clips sampled from episodes on disk.

``ClipDataset(dirs, num_frames=4, stride=2)`` yields dicts with

- ``frames``: uint8 ``[n, 3, H, W]`` (the model converts to float on its device),
- ``actions``: float32 ``[n - 1, stride * A]``: the ``stride`` actions taken between consecutive
  sampled frames, concatenated (action chunking),
- ``proprio``: float32 ``[n, P]``, ``state``: float64 ``[n, S]`` (for probes and evaluation only).

With ``passive=True`` only ``frames`` and ``source`` (the index of the dataset directory the clip
comes from) are returned: this is the video-only view used for self-supervised pretraining, and it
may mix the datasets of several tasks.
The train/val split is by episode, so no validation frame was seen in training.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from einops import rearrange
from torch.utils.data import Dataset

from worldmodel.data.storage import DatasetError, EpisodeStore


def split_episodes(n: int, val_fraction: float, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Episode indices for training and validation (a seeded permutation, by episode)."""
    if not 0.0 <= val_fraction < 1.0:
        raise ValueError(f"val_fraction must be in [0, 1), got {val_fraction}")
    order = np.random.default_rng(seed).permutation(n)
    n_val = min(n - 1, math.ceil(val_fraction * n)) if val_fraction > 0 else 0
    return np.sort(order[n_val:]), np.sort(order[:n_val])


def training_episodes(n: int, val_fraction: float, episodes: int = 0,
                      seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """:func:`split_episodes`, keeping only the first ``episodes`` training episodes when given
    (data-efficiency studies; 0 = all). ``ValueError`` if the split has fewer."""
    train, val = split_episodes(n, val_fraction, seed)
    if episodes:
        if episodes > len(train):
            raise ValueError(f"episodes={episodes} but the dataset has only "
                             f"{len(train)} training episodes")
        train = train[:episodes]
    return train, val


def resolve_stride(stride: int, task: str) -> int:
    """Environment steps per model step: ``stride`` if positive, else (0) the task's default
    ``frameskip`` (Push: 5, the other built-in tasks: 1)."""
    from envs.registry import task_class

    if isinstance(stride, bool) or not isinstance(stride, int) or stride < 0:
        raise ValueError(f"stride must be a positive integer, or 0 for the task's default "
                         f"frameskip; got {stride!r}")
    return stride or int(getattr(task_class(task), "frameskip", 1))


def clip_span(store: EpisodeStore, num_frames: int, stride: int) -> int:
    """Environment steps a clip of ``num_frames`` frames ``stride`` apart spans; ``DatasetError``
    if that is longer than the episodes of ``store``."""
    span = (num_frames - 1) * stride
    if span > store.meta.steps:
        raise DatasetError(f"clips of {num_frames} frames at stride {stride} span {span} "
                           f"steps, longer than the {store.meta.steps}-step episodes of "
                           f"{store.data_dir}")
    return span


def clip_starts(store: EpisodeStore, episodes, num_frames: int,
                stride: int) -> list[tuple[int, int]]:
    """Every ``(episode, start step)`` of a clip within ``episodes``; ``DatasetError`` if none."""
    starts = np.arange(store.meta.steps - clip_span(store, num_frames, stride) + 1)
    index = [(int(e), int(t)) for e in episodes for t in starts]
    if not index:
        raise DatasetError(f"no training clips in {store.data_dir}")
    return index


def action_chunks(actions: np.ndarray, t: int, num_frames: int, stride: int) -> torch.Tensor:
    """The actions between the frames of the clip starting at step ``t``, one chunk of
    ``stride`` actions per transition: ``[num_frames - 1, stride * A]``."""
    chunk = np.array(actions[t: t + (num_frames - 1) * stride])
    return torch.from_numpy(rearrange(chunk, "(n s) a -> n (s a)", s=stride))


class ClipDataset(Dataset):
    """Clips of ``num_frames`` frames, ``stride`` environment steps apart, from one or more datasets.

    Args:
        data_dirs: a dataset directory or a list of them (several only for ``passive=True`` or the
            same task).
        num_frames: frames per clip.
        stride: environment steps between sampled frames.
        split: ``"train"``, ``"val"`` or ``"all"``.
        val_fraction: share of episodes held out for validation (per dataset).
        passive: yield frames and their dataset's index only (video pretraining); actions are never
            read.
        task / image_size: refuse datasets of another task or resolution.
    """

    def __init__(self, data_dirs: str | Path | Sequence[str | Path], num_frames: int = 4,
                 stride: int = 1, split: str = "train", val_fraction: float = 0.1,
                 passive: bool = False, split_seed: int = 0, task: str | None = None,
                 image_size: int | None = None):
        if isinstance(data_dirs, (str, Path)):
            data_dirs = [data_dirs]
        if not data_dirs:
            raise DatasetError("no dataset directory given")
        if num_frames < 1 or stride < 1:
            raise ValueError(f"num_frames and stride must be positive, got {num_frames}, {stride}")
        if split not in ("train", "val", "all"):
            raise ValueError(f"split must be 'train', 'val' or 'all', got {split!r}")
        self.stores = [EpisodeStore(d, task=task, image_size=image_size) for d in data_dirs]
        sizes = {s.meta.image_size for s in self.stores}
        if len(sizes) > 1:
            raise DatasetError(f"datasets have different resolutions {sorted(sizes)}: {data_dirs}")
        tasks = {s.meta.task for s in self.stores}
        if not passive and len(tasks) > 1:
            raise DatasetError(f"only passive (video) mode mixes tasks; got {sorted(tasks)}")
        self.num_frames, self.stride, self.passive = num_frames, stride, passive
        index = []
        for k, store in enumerate(self.stores):
            span = clip_span(store, num_frames, stride)
            train, val = split_episodes(len(store), val_fraction, split_seed)
            episodes = {"train": train, "val": val, "all": np.arange(len(store))}[split]
            starts = np.arange(store.meta.steps - span + 1)
            index += [(k, int(e), int(t)) for e in episodes for t in starts]
        if not index:
            raise DatasetError(f"split {split!r} of {list(map(str, data_dirs))} holds no clips")
        self.index = np.asarray(index, dtype=np.int64)

    @property
    def meta(self):
        """The first dataset's meta (all share task unless passive)."""
        return self.stores[0].meta

    def __len__(self) -> int:
        return len(self.index)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        k, episode, t = (int(x) for x in self.index[i])
        ep = self.stores[k][episode]
        s, n = self.stride, self.num_frames
        frames = torch.from_numpy(np.array(ep["pixels"][t: t + (n - 1) * s + 1: s]))
        item = {"frames": rearrange(frames, "n h w c -> n c h w")}
        if self.passive:
            item["source"] = torch.tensor(k)
            return item
        item["actions"] = action_chunks(ep["actions"], t, n, s)
        item["proprio"] = torch.from_numpy(np.array(ep["proprio"][t: t + (n - 1) * s + 1: s]))
        item["state"] = torch.from_numpy(np.array(ep["state"][t: t + (n - 1) * s + 1: s]))
        item["episode"] = torch.tensor(episode)
        item["t"] = torch.tensor(t)
        return item

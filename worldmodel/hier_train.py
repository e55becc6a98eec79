"""Training the high level of the hierarchical world model (``wm train model=hier``).

Starts from a trained low-level world model (``world_model=...``, a ``wm train`` checkpoint) and
trains, on the same trajectories and the same frozen encoder, the macro-action autoencoder and the
high-level predictor over clips whose frames are ``k`` low-level steps apart. The low level stays
frozen and is stored in the checkpoint, so one file holds both levels.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import torch

from worldmodel.ac_model import KIND as LOW_KIND
from worldmodel.ac_model import ACWorldModelNet, build_from_architecture
from worldmodel.ac_train import ACObjective, LatentClipDataset
from worldmodel.data.dataset import training_episodes
from worldmodel.data.storage import DatasetError, EpisodeStore
from worldmodel.hier_model import KIND, HierarchicalNet, architecture
from worldmodel.latents import cached_latents
from worldmodel.models import count_parameters
from worldmodel.models.ac_predictor import ACPredictorConfig
from worldmodel.train import TrainConfig, Trainer
from worldmodel.train.checkpoint import CheckpointError, load_checkpoint, submodule_state
from worldmodel.train.loop import resolve_device


@dataclasses.dataclass
class HierTrainConfig:
    """Settings of ``wm train model=hier`` (optimisation lives in ``train``).

    Attributes:
        world_model: the trained low-level world model (``wm train`` checkpoint).
        data_dir: the trajectories; empty = the low level's training data.
        k: low-level model steps per high-level step.
        macro_dim: size of a latent macro-action (what the high-level planner searches).
        macro_hidden: width of the macro autoencoder's MLPs.
        num_frames: frames per high-level training clip (``k`` low steps apart).
        rollout_steps / rollout_weight: the high level's rollout loss.
        recon_weight: weight of the action-chunk reconstruction loss.
        latent_loss: ``l1`` or ``l2`` on the high level's latent terms; empty = the one the low
            level was trained with (``wm train model.latent_loss``, ``l1`` by default).
        predictor: the high-level predictor's shape (``dim``, ``depth``, ``heads``...).
        episodes: use only the first N training episodes; 0 = all.
    """

    world_model: str = "runs/reach/world_model/checkpoint.pt"
    data_dir: str = ""
    out: str = "runs/reach/hier"
    k: int = 5
    macro_dim: int = 4
    macro_hidden: int = 128
    num_frames: int = 4
    rollout_steps: int = 2
    rollout_weight: float = 1.0
    recon_weight: float = 1.0
    latent_loss: str = ""
    val_fraction: float = 0.1
    episodes: int = 0
    predictor: dict[str, Any] = dataclasses.field(default_factory=dict)
    cache: bool = True
    progress: bool = True
    train: TrainConfig = dataclasses.field(default_factory=TrainConfig)


def load_low_level(path: str | Path) -> tuple[ACWorldModelNet, dict[str, Any]]:
    """The low-level network and meta of a ``wm train`` checkpoint (clear errors otherwise)."""
    if not Path(path).is_file():
        raise FileNotFoundError(f"low-level world model {str(path)!r} does not exist (train one "
                                f"with `wm train`, then pass world_model=.../checkpoint.pt)")
    ckpt = load_checkpoint(path)
    if ckpt.get("kind") != LOW_KIND:
        raise CheckpointError(f"{path} holds a {ckpt.get('kind')!r} model; the hierarchical "
                              f"model builds on an action-conditioned world model "
                              f"({LOW_KIND!r}, from `wm train`)")
    net = build_from_architecture(ckpt["arch"])
    net.load_state_dict(submodule_state(ckpt, "net"))
    return net, ckpt["meta"]


def high_latent_loss(cfg: HierTrainConfig, low_meta: dict[str, Any]) -> str:
    """The high level's latent loss: ``cfg.latent_loss``, or the low level's when empty."""
    return cfg.latent_loss or low_meta.get("config", {}).get("latent_loss", "l1")


def train_hier_model(cfg: HierTrainConfig) -> dict[str, Any]:
    """Train (or resume) the high level on top of ``cfg.world_model``; returns the summary."""
    low, low_meta = load_low_level(cfg.world_model)
    cfg = dataclasses.replace(cfg, latent_loss=high_latent_loss(cfg, low_meta))  # as recorded
    data_dir = cfg.data_dir or low_meta["data_dir"]
    store = EpisodeStore(data_dir)
    meta = store.meta
    if meta.task != low_meta["task"]:
        raise DatasetError(f"{data_dir} holds {meta.task!r} data; the low-level world model "
                           f"{cfg.world_model} was trained on {low_meta['task']!r}")
    low_stride = int(low_meta.get("stride", 1))
    if isinstance(cfg.k, bool) or not isinstance(cfg.k, int) or cfg.k < 1:
        raise ValueError(f"k must be a positive integer, got {cfg.k!r}")
    if cfg.num_frames < 2:
        raise ValueError(f"num_frames must be >= 2 (a clip needs a transition), "
                         f"got {cfg.num_frames}")
    span = (cfg.num_frames - 1) * cfg.k * low_stride
    if span > meta.steps:
        raise DatasetError(f"k={cfg.k} with num_frames={cfg.num_frames} needs clips of {span} "
                           f"environment steps, but the episodes of {data_dir} have "
                           f"{meta.steps}: lower k or num_frames")
    device = resolve_device(cfg.train.device)
    low_cache = Path(cfg.world_model).parent / "cache"   # the low level's latents, if cached
    cache_dir = (low_cache if low_cache.is_dir() else Path(cfg.out) / "cache") \
        if cfg.cache else None
    latents = cached_latents(low.encoder, store, cache_dir, device=device,
                             progress=cfg.progress)
    low.encoder.cpu()
    latents = low.to_model_space(latents.float())
    train_eps, val_eps = training_episodes(len(store), cfg.val_fraction, cfg.episodes)
    stride = cfg.k * low_stride
    data = LatentClipDataset(latents, store, train_eps, cfg.num_frames, stride)
    val = LatentClipDataset(latents, store, val_eps, cfg.num_frames, stride) \
        if len(val_eps) else None
    low_cfg = low.predictor.cfg
    high_cfg = ACPredictorConfig(**{**low_cfg.to_dict(), **cfg.predictor,
                                    "action_dim": cfg.macro_dim})
    torch.manual_seed(cfg.train.seed)
    net = HierarchicalNet(low, cfg.k, high_cfg, cfg.rollout_steps, cfg.rollout_weight,
                          cfg.recon_weight, cfg.macro_hidden, latent_loss=cfg.latent_loss)
    run_meta = {**{k: low_meta[k] for k in ("task", "env", "image_size", "env_action_dim")},
                "stride": low_stride, "k": cfg.k, "data_dir": str(data_dir),
                "train_episodes": len(train_eps), "low_level": str(cfg.world_model),
                "encoder": low_meta.get("encoder"),
                "config": {k: v for k, v in dataclasses.asdict(cfg).items() if k != "train"}}
    trainer = Trainer(ACObjective(net), data, dataclasses.replace(cfg.train, out=cfg.out),
                      kind=KIND, arch=architecture(net), meta=run_meta, val_dataset=val)
    if trainer.dist.is_main:
        trained = count_parameters(net, trainable_only=True)
        print(f"hierarchical world model: {trained / 1e6:.2f}M trainable params (high-level "
              f"predictor + macro autoencoder, {cfg.macro_dim}-d macro-actions for chunks of "
              f"k={cfg.k} steps) on the frozen low level {cfg.world_model}; {len(data)} train "
              f"clips from {len(train_eps)} episodes of {meta.task}")
    summary = trainer.fit()
    trainer.close()
    return summary

"""Training the action-conditioned predictor on a frozen encoder (``wm train``).

The encoder (a ``wm pretrain`` checkpoint, or ``encoder=random`` for the same architecture with
random weights) is frozen; every frame of the dataset is encoded once and cached under
``out/cache`` (:mod:`worldmodel.latents`). The predictor then trains on latent clips through the
shared :class:`~worldmodel.train.Trainer` (checkpoints, exact resume, logging, DDP, progress).
"""
from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import Dataset

from worldmodel.ac_model import KIND, ACWorldModelNet, architecture
from worldmodel.data.dataset import (action_chunks, clip_starts, resolve_stride,
                                      training_episodes)
from worldmodel.data.storage import EpisodeStore
from worldmodel.latents import FrozenEncoder, cached_latents
from worldmodel.models import VideoViT, count_parameters, vit_config
from worldmodel.models.ac_predictor import ACPredictorConfig
from worldmodel.train import TrainConfig, Trainer
from worldmodel.train.checkpoint import CheckpointError
from worldmodel.train.loop import resolve_device


@dataclasses.dataclass
class ACTrainConfig:
    """Data and model settings of ``wm train`` (optimisation lives in ``train``).

    Attributes:
        encoder: a ``wm pretrain`` checkpoint, or ``"random"`` for a random-init encoder with
            the architecture ``random_encoder`` (a preset ``size`` plus overrides; the
            no-pretraining baseline).
        encoder_which: ``target`` (EMA, default) or ``online`` encoder of the checkpoint.
        pool: latent tokens per side after average pooling (0: every patch token).
        blur: Gaussian low-pass (std in pixels) on each frame before the frozen encoder; 0 = off
            (see :class:`~worldmodel.latents.FrozenEncoder`).
        projection: principal components of the pooled tokens the predictor works on (one
            latent token of that width; fitted on the training latents); 0 = raw tokens.
        projection_per_token: project each token's channels instead (the frame stays ``P``
            tokens of width ``projection``; keeps where small things are, costs more per step).
        num_frames: frames per training clip (``num_frames - 1`` transitions).
        stride: environment steps per model step; the ``stride`` actions in between form one
            action chunk. 0: the task's default ``frameskip`` (Push: 5; others: 1).
        rollout_steps: ``k`` of the autoregressive rollout loss (default 2, as V-JEPA 2-AC).
        latent_loss: ``l1`` (V-JEPA 2-AC) or ``l2`` on the latents (see :class:`ACWorldModelNet`).
        use_proprio: give the predictor a proprio token (and predict proprio).
        episodes: use only the first N training episodes (data-efficiency studies); 0 = all.
        goal_readout_steps: after training, fit the goal-proprio readout
            (:mod:`worldmodel.goal_readout`) for this many steps and save it as
            ``out/goal_readout.pt``; 0 = skip (also skipped for tasks without ``goal_proprio``).
    """

    data_dir: str = "runs/reach/data"
    out: str = "runs/reach/world_model"
    encoder: str = "random"
    encoder_which: str = "target"
    random_encoder: dict[str, Any] = dataclasses.field(default_factory=lambda: {"size": "tiny"})
    pool: int = 4
    blur: float = 0.0
    projection: int = 64
    projection_per_token: bool = False
    num_frames: int = 4
    stride: int = 0
    rollout_steps: int = 2
    rollout_weight: float = 1.0
    proprio_weight: float = 1.0
    latent_loss: str = "l1"
    use_proprio: bool = True
    goal_readout_steps: int = 4000
    val_fraction: float = 0.1
    episodes: int = 0
    predictor: dict[str, Any] = dataclasses.field(default_factory=dict)
    cache: bool = True
    progress: bool = True
    train: TrainConfig = dataclasses.field(default_factory=TrainConfig)


class LatentClipDataset(Dataset):
    """Clips of cached latents with their action chunks and proprio.

    Items: ``z [n, P, D]`` float32, ``actions [n-1, stride*A]``, ``proprio [n, p]``.
    """

    def __init__(self, latents: torch.Tensor, store: EpisodeStore, episodes: np.ndarray,
                 num_frames: int, stride: int):
        if num_frames < 2:
            raise ValueError(f"num_frames must be >= 2 (a clip needs a transition), "
                             f"got {num_frames}")
        self.index = clip_starts(store, episodes, num_frames, stride)
        self.latents, self.n, self.stride = latents, num_frames, stride
        self.actions = {int(e): np.array(store[int(e)]["actions"]) for e in episodes}
        self.proprio = {int(e): np.array(store[int(e)]["proprio"]) for e in episodes}

    def __len__(self) -> int:
        return len(self.index)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        e, t = self.index[i]
        s, n = self.stride, self.n
        frames = slice(t, t + (n - 1) * s + 1, s)
        return {"z": self.latents[e, frames].float(),
                "actions": action_chunks(self.actions[e], t, n, s),
                "proprio": torch.from_numpy(self.proprio[e][frames])}


class ACObjective(nn.Module):
    """The training objective for the Trainer: a batch of latent clips in, ``net.losses(z,
    actions, proprio)`` out (the action-conditioned model, or the hierarchical one's high
    level)."""

    def __init__(self, net: nn.Module):
        super().__init__()
        self.net = net

    def forward(self, batch: dict[str, torch.Tensor], generator: torch.Generator):
        return self.net.losses(batch["z"], batch["actions"], batch["proprio"])


def build_encoder(cfg: ACTrainConfig, image_size: int) -> tuple[FrozenEncoder, dict[str, Any]]:
    """The frozen encoder of a run and a description of where it came from."""
    if cfg.encoder == "random":
        torch.manual_seed(cfg.train.seed)
        arch = dict(cfg.random_encoder)
        vit = VideoViT(vit_config(arch.pop("size", "tiny"), image_size=image_size,
                                  num_frames=arch.pop("num_frames", 2), **arch))
        source = {"encoder": "random", "architecture": dict(cfg.random_encoder),
                  "seed": cfg.train.seed}
    else:
        from worldmodel.pretrain import load_encoder
        path = Path(cfg.encoder)
        if not path.is_file():
            raise FileNotFoundError(f"encoder checkpoint {path} does not exist (train one with "
                                    f"`wm pretrain`, or pass encoder=random)")
        vit, meta = load_encoder(path, image_size=image_size, which=cfg.encoder_which)
        source = {"encoder": str(path), "which": cfg.encoder_which,
                  "pretrain_tasks": meta.get("tasks")}
    return FrozenEncoder(vit, pool=cfg.pool, blur=cfg.blur), source


def predictor_config(cfg: ACTrainConfig, encoder: FrozenEncoder, env_action_dim: int,
                     proprio_dim: int) -> ACPredictorConfig:
    """The predictor's shape for a run: ``cfg.predictor`` over the defaults, with the latent
    width/tokens of the encoder (or projection) and the action chunk / proprio sizes
    (``cfg.stride`` resolved: see :func:`~worldmodel.data.dataset.resolve_stride`)."""
    if cfg.stride < 1:
        raise ValueError(f"stride={cfg.stride}: resolve the task's default frameskip first "
                         f"(worldmodel.data.dataset.resolve_stride(stride, task))")
    k = cfg.projection
    return ACPredictorConfig(**{"dim": 128, "depth": 4, "heads": 4, **cfg.predictor,
                                "latent_dim": k or encoder.dim,
                                "latent_tokens": encoder.num_tokens
                                if not k or cfg.projection_per_token else 1,
                                "action_dim": env_action_dim * cfg.stride,
                                "proprio_dim": proprio_dim if cfg.use_proprio else 0})


def train_world_model(cfg: ACTrainConfig) -> dict[str, Any]:
    """Train (or resume) the action-conditioned predictor; returns the training summary."""
    store = EpisodeStore(cfg.data_dir)
    meta = store.meta
    cfg = dataclasses.replace(cfg, stride=resolve_stride(cfg.stride, meta.task))
    encoder, source = build_encoder(cfg, meta.image_size)
    device = resolve_device(cfg.train.device)
    latents = cached_latents(encoder, store, Path(cfg.out) / "cache" if cfg.cache else None,
                             device=device, progress=cfg.progress)
    encoder.cpu()
    train_eps, val_eps = training_episodes(len(store), cfg.val_fraction, cfg.episodes)
    k = cfg.projection
    pred_cfg = predictor_config(cfg, encoder, meta.action_dim, meta.proprio_dim)
    torch.manual_seed(cfg.train.seed)
    net = ACWorldModelNet(encoder, pred_cfg, cfg.rollout_steps, cfg.rollout_weight,
                          cfg.proprio_weight, projection=k,
                          projection_per_token=cfg.projection_per_token,
                          latent_loss=cfg.latent_loss)
    kept = None
    if net.projection is not None:
        kept = resumed_projection(cfg, net)
        if kept is None:
            kept = net.projection.fit(latents[torch.as_tensor(train_eps)].flatten(0, 1),
                                      seed=cfg.train.seed)
        latents = net.projection.project(latents.float())
    data = LatentClipDataset(latents, store, train_eps, cfg.num_frames, cfg.stride)
    val = LatentClipDataset(latents, store, val_eps, cfg.num_frames, cfg.stride) \
        if len(val_eps) else None
    net.set_proprio_stats(torch.from_numpy(np.concatenate(list(data.proprio.values()))))
    run_meta = {"task": meta.task, "env": meta.env, "image_size": meta.image_size,
                "env_action_dim": meta.action_dim, "stride": cfg.stride,
                "data_dir": str(cfg.data_dir), "train_episodes": len(train_eps), **source,
                "projection_variance_kept": kept,
                "config": {k: v for k, v in dataclasses.asdict(cfg).items() if k != "train"}}
    trainer = Trainer(ACObjective(net), data, dataclasses.replace(cfg.train, out=cfg.out),
                      kind=KIND, arch=architecture(net), meta=run_meta, val_dataset=val)
    if trainer.dist.is_main:
        print(f"action-conditioned predictor: {count_parameters(net.predictor) / 1e6:.2f}M params "
              f"on a frozen {source['encoder']} encoder ({encoder.num_tokens} latent tokens x "
              f"{encoder.dim}" + (f", projected to {k} components"
                                  f"{' per token' if cfg.projection_per_token else ''} keeping "
                                  f"{kept:.0%} of the "
                                  f"variance" if k else "") +
              f"); {len(data)} train clips from {len(train_eps)} episodes of {meta.task}")
    summary = trainer.fit()
    if trainer.dist.is_main:
        readout = fit_readout_if_missing(cfg, net, latents, store, train_eps, val_eps)
        if readout is not None:
            summary["goal_readout_val_r2"] = readout["val_r2"]
    trainer.close()
    return summary


def resumed_projection(cfg: ACTrainConfig, net: ACWorldModelNet) -> float | None:
    """Load the latent projection of the run being resumed in ``cfg.out`` into ``net`` and
    return the variance it keeps; None for a fresh run (or one the Trainer will refuse). Refitting
    it instead could flip the sign of some components (the randomised PCA differs with the thread
    count), leaving the training latents out of step with the projection the Trainer restores."""
    from worldmodel.train.checkpoint import load_checkpoint, submodule_state
    from worldmodel.train.loop import CHECKPOINT_NAME

    path = Path(cfg.out) / CHECKPOINT_NAME
    if not (cfg.train.resume and path.is_file()):
        return None
    ckpt = load_checkpoint(path)
    state = submodule_state(ckpt, "net.projection")
    try:
        net.projection.load_state_dict(state)
    except RuntimeError:
        return None
    return ckpt.get("meta", {}).get("projection_variance_kept")


def fit_readout_if_missing(cfg: ACTrainConfig, net: ACWorldModelNet, latents: torch.Tensor,
                           store: EpisodeStore, train_eps: np.ndarray,
                           val_eps: np.ndarray) -> dict[str, Any] | None:
    """Fit and save ``out/goal_readout.pt`` from the model-space ``latents`` unless a readout of
    this very model is there already; returns its info (None when skipped)."""
    from worldmodel.goal_readout import (READOUT_PATH, check_spec, fit_goal_readout,
                                         load_goal_readout, save_goal_readout, task_goal_spec)

    spec = check_spec(task_goal_spec(store.meta.task), store.meta.proprio_dim)
    if cfg.goal_readout_steps < 1 or not spec or not net.uses_proprio:
        return None
    path = Path(cfg.out) / READOUT_PATH
    if path.is_file():
        try:
            return load_goal_readout(path, net)[2]
        except CheckpointError:
            pass                                         # another model's: fit it anew
    proprio = torch.from_numpy(np.stack([store[e]["proprio"] for e in range(len(store))]))
    readout, info = fit_goal_readout(latents, proprio, spec, train_eps, val_eps,
                                     steps=cfg.goal_readout_steps, seed=cfg.train.seed)
    save_goal_readout(path, readout, spec, net, info)
    print(f"goal readout: {path} (held-out R^2 per feature {info['val_r2']})")
    return info

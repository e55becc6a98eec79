"""V-JEPA pretraining on passive video (``wm pretrain``) and loading the pretrained encoder.

The dataset is read in passive mode (frames only: actions are never touched) and may mix the videos
of several tasks. Training goes through the shared :class:`~worldmodel.train.Trainer`.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from worldmodel.data.dataset import ClipDataset
from worldmodel.data.storage import write_json_atomic
from worldmodel.data.transforms import frames_to_model
from worldmodel.models import (VJEPA, MaskSpec, PredictorConfig, VideoViT, count_parameters,
                               effective_rank, ema_momentum, group_indices, spread_within,
                               vit_config)
from worldmodel.train import TrainConfig, Trainer
from worldmodel.train.checkpoint import load_checkpoint

KIND = "vjepa"


@dataclasses.dataclass
class PretrainConfig:
    """Model and data settings of a pretraining run (optimisation lives in ``train``)."""

    data_dirs: Sequence[str] = ("runs/reach/data",)
    out: str = "runs/reach/pretrain"
    num_frames: int = 4             # frames per clip (a multiple of the tubelet)
    stride: int = 1                 # environment steps between clip frames
    val_fraction: float = 0.1
    encoder: dict[str, Any] = dataclasses.field(default_factory=lambda: {"size": "tiny"})
    predictor: dict[str, Any] = dataclasses.field(default_factory=dict)
    masks: Sequence[dict[str, Any]] = (
        {"num_blocks": 8, "spatial_scale": 0.15}, {"num_blocks": 2, "spatial_scale": 0.7})
    ema_start: float = 0.996
    ema_end: float = 1.0
    ema_schedule: str = "linear"
    var_weight: float = 10.0        # collapse guard (see VJEPA and configs/model/vjepa.yaml)
    var_gamma: float = 0.02
    cov_weight: float = 0.0         # decorrelation term against dimensional collapse (see VJEPA)
    freeze_patch_embed: bool = False  # keep the random patch projection (MoCo v3)
    freeze_blocks: int = 0          # and the first K transformer blocks at random init
    target_layers: int = 1          # last blocks averaged into the target (1 = V-JEPA's final output)
    train: TrainConfig = dataclasses.field(default_factory=TrainConfig)


class PretrainObjective(nn.Module):
    """The training objective: uint8 clips in, V-JEPA loss out, EMA update after each step."""

    def __init__(self, model: VJEPA, ema_start: float, ema_end: float, ema_schedule: str):
        super().__init__()
        self.model = model
        self.ema = (ema_start, ema_end, ema_schedule)

    def forward(self, batch: dict[str, torch.Tensor], generator: torch.Generator):
        return self.model(frames_to_model(batch["frames"]), generator, groups=batch.get("source"))

    def on_step_end(self, step: int, total_steps: int) -> None:
        start, end, schedule = self.ema
        self.model.update_target(ema_momentum(step + 1, total_steps, start, end, schedule))


def build_model(cfg: PretrainConfig, image_size: int) -> VJEPA:
    enc = dict(cfg.encoder)
    size = enc.pop("size", "tiny")
    encoder_cfg = vit_config(size, image_size=image_size, num_frames=cfg.num_frames, **enc)
    masks = [MaskSpec(**{**m, "aspect_ratio": tuple(m.get("aspect_ratio", (0.75, 1.5)))})
             for m in cfg.masks]
    return VJEPA(encoder_cfg, PredictorConfig(**cfg.predictor), masks,
                 var_weight=cfg.var_weight, var_gamma=cfg.var_gamma,
                 cov_weight=cfg.cov_weight, target_layers=cfg.target_layers,
                 freeze_patch_embed=cfg.freeze_patch_embed, freeze_blocks=cfg.freeze_blocks)


def architecture(model: VJEPA) -> dict[str, Any]:
    """What a checkpoint must match to be loaded into this model."""
    return {"encoder": model.encoder_cfg.to_dict(),
            "predictor": dataclasses.asdict(model.predictor_cfg)}


@torch.no_grad()
def feature_health(encoder: VideoViT, frames: torch.Tensor,
                   groups: torch.Tensor | None = None) -> tuple[float, float]:
    """``(spread, rank)`` of an encoder's layer-normed tokens on ``frames`` (within each of
    ``groups``, e.g. the clips' source datasets, when given).

    The collapse monitors: ``spread`` is the across-sample std averaged over tokens and channels
    (0 when every clip maps to the same features); ``rank`` the effective rank of the clip-pooled
    features (:func:`effective_rank`; small when the variation lies along a few directions)."""
    h = encoder(frames)
    h = F.layer_norm(h, (h.shape[-1],))
    rows = group_indices(groups, h.shape[0])
    return spread_within(h, rows), effective_rank(h.mean(dim=1), rows)


def pretrain(cfg: PretrainConfig) -> dict[str, Any]:
    """Run (or resume) V-JEPA pretraining; returns the training summary."""
    data = ClipDataset(list(cfg.data_dirs), num_frames=cfg.num_frames, stride=cfg.stride,
                       split="train", val_fraction=cfg.val_fraction, passive=True)
    val = ClipDataset(list(cfg.data_dirs), num_frames=cfg.num_frames, stride=cfg.stride,
                      split="val", val_fraction=cfg.val_fraction, passive=True) \
        if cfg.val_fraction > 0 else None
    torch.manual_seed(cfg.train.seed)
    model = build_model(cfg, data.meta.image_size)
    # reference for the collapse monitor: the random-init encoder on a fixed batch
    probe_items = [data[i] for i in torch.linspace(0, len(data) - 1, 64).long().tolist()]
    probe_batch = torch.stack([it["frames"] for it in probe_items])
    probe_sources = torch.stack([it["source"] for it in probe_items])   # spread within a source
    spread_random, rank_random = feature_health(model.encoder, frames_to_model(probe_batch),
                                                probe_sources)
    objective = PretrainObjective(model, cfg.ema_start, cfg.ema_end, cfg.ema_schedule)
    meta = {"image_size": data.meta.image_size, "tasks": sorted({s.meta.task for s in data.stores}),
            "data_dirs": [str(d) for d in cfg.data_dirs], "num_frames": cfg.num_frames,
            "stride": cfg.stride, "spread_random_init": spread_random,
            "rank_random_init": rank_random,
            "pretrain_config": {k: v for k, v in dataclasses.asdict(cfg).items() if k != "train"}}
    train_cfg = dataclasses.replace(cfg.train, out=cfg.out)
    trainer = Trainer(objective, data, train_cfg, kind=KIND, arch=architecture(model), meta=meta,
                      val_dataset=val)
    if trainer.dist.is_main:
        print(f"V-JEPA: encoder {count_parameters(model.encoder) / 1e6:.2f}M params, predictor "
              f"{count_parameters(model.predictor) / 1e6:.2f}M; {len(data)} train clips from "
              f"{', '.join(meta['tasks'])}; random-init feature spread {spread_random:.4f}, "
              f"rank {rank_random:.1f}"
              + (" (within each dataset)" if len(data.stores) > 1 else ""))
    summary = trainer.fit()
    model.eval()
    summary["spread_random_init"], summary["rank_random_init"] = spread_random, rank_random
    summary["spread_target"], summary["rank_target"] = feature_health(
        model.target_encoder, frames_to_model(probe_batch), probe_sources)
    if trainer.dist.is_main:
        write_json_atomic(Path(cfg.out) / "train_summary.json", summary)   # with the health scores
        print(f"feature spread: target encoder {summary['spread_target']:.4f} vs random init "
              f"{spread_random:.4f}; rank {summary['rank_target']:.1f} vs "
              f"{rank_random:.1f}; checkpoint {summary['checkpoint']}")
    trainer.close()
    return summary


def load_encoder(path: str | Path, *, image_size: int | None = None,
                 which: str = "target") -> tuple[VideoViT, dict[str, Any]]:
    """The pretrained encoder of a ``wm pretrain`` checkpoint (the EMA ``target`` encoder by
    default, as V-JEPA uses for downstream tasks), in eval mode, with the checkpoint's meta.

    Raises ``CheckpointError`` for a checkpoint of another model and ``ValueError`` when its
    image size differs from ``image_size``.
    """
    from worldmodel.models import VideoViTConfig

    ckpt = load_checkpoint(path, kind=KIND)
    enc_cfg = VideoViTConfig(**ckpt["arch"]["encoder"])
    if image_size is not None and enc_cfg.image_size != image_size:
        raise ValueError(f"encoder {path} was trained on {enc_cfg.image_size}x{enc_cfg.image_size} "
                         f"frames, the data here is {image_size}x{image_size}")
    prefixes = {"target": "model.target_encoder.", "online": "model.encoder."}
    if which not in prefixes:
        raise ValueError(f"which must be 'target' or 'online', got {which!r}")
    prefix = prefixes[which]
    encoder = VideoViT(enc_cfg)
    state = {k[len(prefix):]: v for k, v in ckpt["model"].items() if k.startswith(prefix)}
    encoder.load_state_dict(state, strict=False)
    missing = set(encoder.state_dict()) - set(state) - {
        k for k, _ in encoder.named_buffers()}
    if missing:
        raise ValueError(f"{path}: encoder weights missing: {sorted(missing)[:5]}")
    encoder.requires_grad_(False)
    return encoder.eval(), ckpt["meta"]

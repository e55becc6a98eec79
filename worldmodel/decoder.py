"""A pixel decoder of the world model's latents, for visualisation only (``wm train-decoder``).

The decoder maps token-space latents ``[B, P, D]`` (what ``VJEPAWorldModel.encode`` and
``rollout`` return) to images, so imagined rollouts can be watched in ``wm plan`` videos. It is
trained after the world model, on latents computed without gradients: the world model is never
changed by it, and planning never uses it.

Example::

    wm train-decoder world_model=runs/reach/world_model/checkpoint.pt data_dir=runs/reach/data

writes ``runs/reach/world_model/decoder/checkpoint.pt``, which ``load_world_model`` attaches.
"""
from __future__ import annotations

import dataclasses
import math
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from einops import rearrange
from torch import nn
from torch.utils.data import Dataset

from worldmodel.ac_model import architecture
from worldmodel.data.dataset import split_episodes
from worldmodel.data.storage import EpisodeStore
from worldmodel.latents import cached_latents
from worldmodel.train import TrainConfig, Trainer
from worldmodel.train.checkpoint import CheckpointError, load_checkpoint, submodule_state
from worldmodel.train.loop import resolve_device

__all__ = ["KIND", "DecoderConfig", "LatentDecoder", "decoder_command", "load_decoder",
           "to_uint8", "train_decoder"]

KIND = "latent_decoder"


class LatentDecoder(nn.Module):
    """Token latents ``[B, P, D]`` on a ``g x g`` grid -> images ``[B, 3, S, S]`` in ``[0, 1]``.

    Each token goes through one shared linear map to ``channels`` features (plus a learned
    per-position bias) at its grid cell; ``log2(S / g)`` blocks of (upsample x2, conv3x3,
    GroupNorm, GELU) bring the grid to ``S x S``; a final conv3x3 and a sigmoid give RGB.
    """

    def __init__(self, dim: int, grid: int, image_size: int, channels: int = 64):
        super().__init__()
        ratio = image_size // grid if grid > 0 else 0
        if grid < 1 or image_size % grid or ratio & (ratio - 1):
            raise ValueError(f"image size {image_size} must be the {grid}x{grid} token grid "
                             f"times a power of two")
        if channels < 1:
            raise ValueError(f"channels must be positive, got {channels}")
        self.dim, self.grid, self.image_size, self.channels = dim, grid, image_size, channels
        self.embed = nn.Linear(dim, channels)
        self.pos = nn.Parameter(torch.zeros(channels, grid, grid))
        groups = math.gcd(channels, 8)
        self.blocks = nn.Sequential(*[
            nn.Sequential(nn.Upsample(scale_factor=2, mode="nearest"),
                          nn.Conv2d(channels, channels, 3, padding=1),
                          nn.GroupNorm(groups, channels), nn.GELU())
            for _ in range(int(math.log2(ratio)))])
        self.head = nn.Conv2d(channels, 3, 3, padding=1)

    @property
    def num_tokens(self) -> int:
        return self.grid * self.grid

    def arch(self) -> dict[str, int]:
        """The constructor's arguments (what a checkpoint must match)."""
        return {"dim": self.dim, "grid": self.grid, "image_size": self.image_size,
                "channels": self.channels}

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        if z.ndim != 3 or tuple(z.shape[1:]) != (self.num_tokens, self.dim):
            raise ValueError(f"latents must be [B, {self.num_tokens}, {self.dim}], "
                             f"got {tuple(z.shape)}")
        x = rearrange(self.embed(z.float()), "b (h w) c -> b c h w", h=self.grid, w=self.grid)
        return torch.sigmoid(self.head(self.blocks(x + self.pos)))


def to_uint8(images: torch.Tensor) -> np.ndarray:
    """Images ``[B, 3, S, S]`` in ``[0, 1]`` -> uint8 ``[B, S, S, 3]`` (numpy, CPU)."""
    pixels = (images.detach().clamp(0, 1) * 255).round().to(torch.uint8)
    return rearrange(pixels, "b c h w -> b h w c").cpu().numpy()


# ------------------------------------------------------------------------------ training
@dataclasses.dataclass
class DecoderConfig:
    """Settings of ``wm train-decoder`` (optimisation lives in ``train``).

    Attributes:
        world_model: the ``wm train`` checkpoint whose latents are decoded.
        data_dir: the dataset to learn from (same task and resolution as the world model).
        out: where the decoder goes; None = ``<world_model dir>/decoder`` (auto-attached).
        channels: feature channels of the upsampling stack.
        cache: cache the encoder's latents under ``out/cache``.
    """

    world_model: str = "runs/reach/world_model/checkpoint.pt"
    data_dir: str = "runs/reach/data"
    out: str | None = None
    channels: int = 64
    val_fraction: float = 0.1
    cache: bool = True
    progress: bool = True
    train: TrainConfig = dataclasses.field(default_factory=TrainConfig)


class FrameLatentDataset(Dataset):
    """``(latent, frame)`` pairs of some episodes: ``z [P, D]`` float32, ``image [S, S, 3]``
    uint8."""

    def __init__(self, latents: torch.Tensor, store: EpisodeStore, episodes: np.ndarray):
        self.latents, self.store = latents, store
        frames = latents.shape[1]
        self.index = [(int(e), t) for e in episodes for t in range(frames)]

    def __len__(self) -> int:
        return len(self.index)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        e, t = self.index[i]
        return {"z": self.latents[e, t].float(),
                "image": torch.from_numpy(np.array(self.store[e]["pixels"][t]))}


class DecoderObjective(nn.Module):
    """MSE between the decoded latents and the frames (scaled to ``[0, 1]``)."""

    def __init__(self, decoder: LatentDecoder):
        super().__init__()
        self.decoder = decoder

    def forward(self, batch: dict[str, torch.Tensor], generator: torch.Generator):
        target = rearrange(batch["image"], "b h w c -> b c h w").float() / 255.0
        mse = F.mse_loss(self.decoder(batch["z"]), target)
        psnr = -10.0 * torch.log10(mse.detach().clamp_min(1e-10))
        return mse, {"mse": mse.detach(), "psnr": psnr}


@torch.no_grad()
def _token_space(net, latents: torch.Tensor, chunk: int = 4096) -> torch.Tensor:
    """Encoder tokens ``[E, T, P, D]`` -> ``to_token_space(to_model_space(.))`` (float16)."""
    device = next(net.parameters()).device
    flat = latents.flatten(0, 1)
    out = torch.empty_like(flat, dtype=torch.float16)
    for i in range(0, len(flat), chunk):
        z = flat[i:i + chunk].to(device, torch.float32)
        out[i:i + chunk] = net.to_token_space(net.to_model_space(z)).to("cpu", torch.float16)
    return out.view_as(latents)


def train_decoder(cfg: DecoderConfig) -> dict[str, Any]:
    """Train (or resume) a :class:`LatentDecoder` of a world model; returns the summary."""
    from worldmodel.world_model import load_world_model

    device = resolve_device(cfg.train.device)
    model = load_world_model(cfg.world_model, device=str(device), attach=False)
    wm_meta = model.meta
    store = EpisodeStore(cfg.data_dir)
    meta = store.meta
    if (meta.task, meta.image_size) != (wm_meta.get("task"), wm_meta.get("image_size")):
        raise ValueError(f"{cfg.data_dir} holds {meta.image_size}x{meta.image_size} {meta.task!r} "
                         f"episodes but the world model {cfg.world_model} was trained on "
                         f"{wm_meta.get('image_size')}x{wm_meta.get('image_size')} "
                         f"{wm_meta.get('task')!r} ones")
    out = Path(cfg.out) if cfg.out else Path(cfg.world_model).parent / "decoder"
    net = model.net
    tokens = cached_latents(net.encoder, store, out / "cache" if cfg.cache else None,
                            device=device, progress=cfg.progress)
    latents = _token_space(net, tokens)
    grid_h, grid_w = net.encoder.grid
    if grid_h != grid_w:
        raise ValueError(f"the decoder needs a square token grid, got {grid_h}x{grid_w}")
    train_eps, val_eps = split_episodes(len(store), cfg.val_fraction, 0)
    data = FrameLatentDataset(latents, store, train_eps)
    val = FrameLatentDataset(latents, store, val_eps) if len(val_eps) else None
    torch.manual_seed(cfg.train.seed)
    decoder = LatentDecoder(net.encoder.dim, grid_h, meta.image_size, cfg.channels)
    arch = {"decoder": decoder.arch(), "world_model": architecture(net)}
    run_meta = {"data_dir": str(cfg.data_dir), "world_model": str(cfg.world_model),
                "task": meta.task, "image_size": meta.image_size,
                "train_episodes": len(train_eps),
                "config": {k: v for k, v in dataclasses.asdict(cfg).items() if k != "train"}}
    del model, net
    trainer = Trainer(DecoderObjective(decoder), data,
                      dataclasses.replace(cfg.train, out=str(out)), kind=KIND, arch=arch,
                      meta=run_meta, val_dataset=val)
    if trainer.dist.is_main:
        params = sum(p.numel() for p in decoder.parameters())
        print(f"latent decoder: {params / 1e6:.2f}M params, {grid_h}x{grid_w} tokens -> "
              f"{meta.image_size}x{meta.image_size} images; {len(data)} train frames from "
              f"{len(train_eps)} episodes; writing {out}")
    summary = trainer.fit()
    trainer.close()
    return summary


def load_decoder(path: str | Path, device: str | torch.device = "cpu",
                 world_model_arch: dict[str, Any] | None = None) -> LatentDecoder:
    """A trained decoder in eval mode. Raises ``CheckpointError`` for a checkpoint of another
    kind, or (given ``world_model_arch``) of a world model of another architecture."""
    want = None if world_model_arch is None else {"world_model": world_model_arch}
    ckpt = load_checkpoint(path, kind=KIND, arch=want)
    decoder = LatentDecoder(**ckpt["arch"]["decoder"])
    state = submodule_state(ckpt, "decoder")
    try:
        decoder.load_state_dict(state)
    except RuntimeError as err:
        raise CheckpointError(f"{path} does not hold a usable decoder: {err}") from err
    return decoder.to(device).eval().requires_grad_(False)


def decoder_command(cfg: Any) -> dict[str, Any]:
    """``wm train-decoder``: the composed Hydra config -> :func:`train_decoder`."""
    from worldmodel.config import from_config

    keys = ("world_model", "data_dir", "out", "channels", "val_fraction", "cache", "progress")
    dcfg = from_config(DecoderConfig, {k: cfg[k] for k in keys if k in cfg},
                       train=from_config(TrainConfig, cfg.train))
    return train_decoder(dcfg)

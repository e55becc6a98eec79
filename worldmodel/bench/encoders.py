"""The frozen encoders of the bench's models, as probe encoders (frames -> tokens).

The probe (:mod:`worldmodel.probe`) feeds normalised frames ``[B, 1, 3, H, W]`` and reads tokens
``[B, N, D]``. The latent models' encoders are ViTs and plug in directly (all patch tokens, as in
``wm probe``); the pixel model's convolutional encoder is wrapped so its feature map becomes
tokens (one per cell of its ``s x s`` grid), each with a fixed sin-cos code of its grid position
appended: ViT tokens carry their position inside them, a feature map's cells do not, and the
attentive probe pools tokens without knowing their order (without the code the probe could not
tell where in the image a feature is, and the pixel row measured R^2 ~ 0 on Reach).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from einops import rearrange
from torch import nn

from worldmodel.data.transforms import PIXEL_MEAN, PIXEL_STD
from worldmodel.models.positions import sincos_3d


class PixelModelEncoder(nn.Module):
    """A pixel world model's encoder seen by the probe: frames -> feature-map tokens, each with
    ``position_dim`` sin-cos channels of its grid cell appended."""

    def __init__(self, predictor: nn.Module, position_dim: int = 24):
        super().__init__()
        self.predictor = predictor.eval().requires_grad_(False)
        self.position_dim = position_dim

    def encode_frames(self, frames: torch.Tensor) -> torch.Tensor:
        """Normalised frames ``[B, 1, 3, H, W]`` -> tokens ``[B, s*s, C + position_dim]``."""
        images = (frames[:, 0] * PIXEL_STD + PIXEL_MEAN).clamp(0, 1)
        features = self.predictor.encode(images)
        tokens = rearrange(features, "b c h w -> b (h w) c")
        grid = sincos_3d(1, features.shape[2], features.shape[3], self.position_dim)
        grid = grid.to(tokens.device, tokens.dtype).expand(len(tokens), -1, -1)
        return torch.cat([tokens, grid], dim=-1)


def model_encoders(checkpoints: dict[str, Path]) -> dict[str, nn.Module]:
    """Probe encoders of the bench's trained models (name -> checkpoint)."""
    from worldmodel.pixel_model import load_pixel_world_model
    from worldmodel.world_model import load_world_model

    encoders: dict[str, nn.Module] = {}
    for name, path in checkpoints.items():
        if name == "pixel":
            model = load_pixel_world_model(path, device="cpu")
            encoders[name] = PixelModelEncoder(model.net.predictor).float()
        else:
            encoders[name] = load_world_model(path, device="cpu", attach=False).net.encoder.encoder
    return encoders


def probe_model_encoders(data_dir: Path, checkpoints: dict[str, Path], steps: int, seed: int,
                         progress: bool = False) -> dict[str, Any]:
    """R-squared of the task's probe targets from each model's frozen encoder."""
    from worldmodel.probe import ProbeConfig, probe_encoders

    cfg = ProbeConfig(data_dir=str(data_dir), steps=steps, seed=seed, progress=progress,
                      include_random=False, device="cpu")
    result = probe_encoders(model_encoders(checkpoints), cfg)
    return {"targets": result["targets"], "train_frames": result["train_frames"],
            "val_frames": result["val_frames"],
            "rows": {name: {"r2": row["r2"], "r2_per_target": row["r2_per_target"]}
                     for name, row in result["rows"].items()}}

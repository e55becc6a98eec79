"""Turning stored uint8 frames into model inputs."""
from __future__ import annotations

import torch

#: frames are scaled to [0, 1], then centred and scaled with these (a fixed, dataset-free choice)
PIXEL_MEAN, PIXEL_STD = 0.5, 0.25


def frames_to_model(frames: torch.Tensor) -> torch.Tensor:
    """uint8 ``[..., 3, H, W]`` -> float ``(x / 255 - 0.5) / 0.25`` on the same device."""
    if frames.dtype != torch.uint8:
        raise ValueError(f"frames must be uint8 images, got dtype {frames.dtype}")
    return (frames.float() / 255.0 - PIXEL_MEAN) / PIXEL_STD

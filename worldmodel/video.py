"""Writing MP4 videos and tiling frames side by side."""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np


def tile_frames(videos: Sequence[np.ndarray], gap: int = 2) -> np.ndarray:
    """Put videos ``[T_i, H, W, 3]`` side by side; shorter ones hold their last frame."""
    length = max(len(v) for v in videos)
    h = max(v.shape[1] for v in videos)
    cols = []
    for v in videos:
        v = np.asarray(v, dtype=np.uint8)
        if len(v) < length:
            v = np.concatenate([v, np.repeat(v[-1:], length - len(v), axis=0)])
        pad = np.full((length, h, gap, 3), 255, np.uint8)
        cols += [np.pad(v, ((0, 0), (0, h - v.shape[1]), (0, 0), (0, 0))), pad]
    return np.concatenate(cols[:-1], axis=2)


def write_mp4(path: str | Path, frames: np.ndarray, fps: int = 10, scale: int = 2) -> Path:
    """Write uint8 frames ``[T, H, W, 3]`` as an H.264 MP4 (upscaled ``scale`` times, nearest)."""
    import imageio.v2 as imageio

    frames = np.asarray(frames, dtype=np.uint8)
    if frames.ndim != 4 or frames.shape[-1] != 3:
        raise ValueError(f"frames must be [T, H, W, 3] uint8, got shape {frames.shape}")
    if scale > 1:
        frames = frames.repeat(scale, axis=1).repeat(scale, axis=2)
    # libx264 wants even sides
    frames = np.pad(frames, ((0, 0), (0, frames.shape[1] % 2), (0, frames.shape[2] % 2), (0, 0)))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.tmp{path.suffix}")
    with imageio.get_writer(tmp, fps=fps, codec="libx264", macro_block_size=1,
                            quality=8, ffmpeg_log_level="error") as writer:
        for frame in frames:
            writer.append_data(frame)
    tmp.replace(path)
    return path

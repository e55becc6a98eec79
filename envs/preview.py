"""A preview video of a dataset: a few episodes side by side."""
from __future__ import annotations

from pathlib import Path

from worldmodel.data.storage import EpisodeStore
from worldmodel.video import tile_frames, write_mp4


def write_preview(data_dir: str | Path, path: str | Path, episodes: int = 4, fps: int = 10) -> Path:
    """Write ``episodes`` episodes of the dataset at ``data_dir`` side by side to ``path`` (MP4)."""
    store = EpisodeStore(data_dir)
    videos = [store[i]["pixels"] for i in range(min(episodes, len(store)))]
    return write_mp4(path, tile_frames(videos), fps=fps)

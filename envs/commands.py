"""``wm collect`` and ``wm show``: thin adapters from Hydra configs to :mod:`envs.collect`."""
from __future__ import annotations

from pathlib import Path

from omegaconf import DictConfig

from envs.collect import CollectConfig, collect
from envs.preview import write_preview
from worldmodel.config import from_config


def collect_command(cfg: DictConfig) -> Path:
    out = collect(from_config(CollectConfig, cfg))
    print(f"dataset: {out}  (preview: {out / 'preview.mp4'})" if cfg.preview else f"dataset: {out}")
    return out


def show_command(cfg: DictConfig) -> Path:
    out = Path(cfg.out) if cfg.out else Path(cfg.data_dir) / "preview.mp4"
    path = write_preview(cfg.data_dir, out, episodes=cfg.episodes, fps=cfg.fps)
    print(f"preview: {path}")
    return path

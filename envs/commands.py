"""``wm collect`` and ``wm show``: thin adapters from Hydra configs to :mod:`envs.collect`."""
from __future__ import annotations

from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from envs.collect import CollectConfig, collect
from envs.preview import write_preview


def to_dataclass(cls, cfg: DictConfig, **extra):
    """Build dataclass ``cls`` from the keys of ``cfg`` it declares (plus ``extra``)."""
    raw = OmegaConf.to_container(cfg, resolve=True)
    names = set(cls.__dataclass_fields__)
    return cls(**{k: v for k, v in raw.items() if k in names}, **extra)


def collect_command(cfg: DictConfig) -> Path:
    out = collect(to_dataclass(CollectConfig, cfg))
    print(f"dataset: {out}  (preview: {out / 'preview.mp4'})" if cfg.preview else f"dataset: {out}")
    return out


def show_command(cfg: DictConfig) -> Path:
    out = Path(cfg.out) if cfg.out else Path(cfg.data_dir) / "preview.mp4"
    path = write_preview(cfg.data_dir, out, episodes=cfg.episodes, fps=cfg.fps)
    print(f"preview: {path}")
    return path

"""``wm demo``: the end-to-end job on the built-in default task.

Stages that exist so far: collect a small dataset with an exploration policy and write a preview
video. Finished stages are reused on a second run unless ``force=true``.
"""
from __future__ import annotations

import shutil
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from envs.collect import CollectConfig, collect
from worldmodel.data.storage import list_episodes


def demo_command(cfg: DictConfig) -> Path:
    out = Path(cfg.out)
    print(f"wm demo: writing to {out.resolve()}")
    data_dir = out / "data"
    if cfg.force and data_dir.exists():
        shutil.rmtree(data_dir)
    done = len(list_episodes(data_dir)) >= cfg.episodes if data_dir.exists() else False
    if done:
        print(f"[1/1] collect: reusing {data_dir} ({cfg.episodes} episodes; force=true redoes it)")
    else:
        print(f"[1/1] collect: {cfg.episodes} episodes x {cfg.steps} steps of env={cfg.env.name}")
    collect(CollectConfig(env=OmegaConf.to_container(cfg.env, resolve=True),
                          policy=OmegaConf.to_container(cfg.policy, resolve=True),
                          episodes=cfg.episodes, steps=cfg.steps, out=str(data_dir),
                          seed=cfg.seed, workers=cfg.workers, preview=4, progress=not done))
    print(f"dataset: {data_dir}\npreview video: {data_dir / 'preview.mp4'}")
    return out

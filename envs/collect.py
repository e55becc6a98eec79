"""``wm collect``: roll exploration policies in a task and write episodes to disk, over all cores.

Episode ``i`` is seeded with ``episode_seed(seed, i, "collect")``, so a collection interrupted and
resumed holds exactly the episodes an uninterrupted one would.
"""
from __future__ import annotations

import dataclasses
import multiprocessing as mp
import os
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from envs.policies import make_policy
from envs.registry import make_env_from_config, split_name
from envs.seeding import episode_seed
from worldmodel.data.storage import (META_FILE, DatasetError, DatasetMeta, episode_path,
                                     load_meta, write_episode, write_json_atomic)

#: meta fields that must agree for a collection to resume into an existing directory
_IDENTITY = ("task", "env", "image_size", "action_repeat", "steps", "policy", "seed")


@dataclasses.dataclass
class CollectConfig:
    """Everything ``wm collect`` needs; usable without Hydra."""

    env: dict[str, Any] = dataclasses.field(default_factory=lambda: {"name": "reach"})
    episodes: int = 200
    steps: int = 50
    policy: dict[str, Any] = dataclasses.field(default_factory=lambda: {"name": "noise"})
    out: str = "runs/reach/data"
    seed: int = 0
    workers: int = 0  # 0: one process per core
    preview: int = 4  # episodes shown side by side in preview.mp4 (0: no preview)
    progress: bool = True


def run_episode(env, policy, steps: int, seed: int) -> dict[str, np.ndarray]:
    """One episode of ``steps`` actions from a seeded reset; arrays in the on-disk layout."""
    obs, _ = env.reset(seed=seed)
    policy.reset(seed + 1)
    pixels, proprio, states, actions = [obs["pixels"]], [obs["proprio"]], [env.get_state()], []
    for _ in range(steps):
        action = policy(obs)
        obs, *_ = env.step(action)
        actions.append(action)
        pixels.append(obs["pixels"])
        proprio.append(obs["proprio"])
        states.append(env.get_state())
    return {"pixels": np.stack(pixels), "actions": np.stack(actions).astype(np.float32),
            "proprio": np.stack(proprio), "state": np.stack(states)}


class _Worker:
    """Per-process state: one env and one policy, built once."""

    env = policy = None
    cfg: CollectConfig | None = None

    @classmethod
    def init(cls, cfg: CollectConfig) -> None:
        cls.cfg, cls.env = cfg, make_env_from_config(cfg.env)
        pname, pkwargs = split_name(cfg.policy)
        cls.policy = make_policy(pname, cls.env, **pkwargs)

    @classmethod
    def collect_one(cls, index: int) -> int:
        cfg = cls.cfg
        arrays = run_episode(cls.env, cls.policy, cfg.steps, episode_seed(cfg.seed, index))
        write_episode(episode_path(cfg.out, index), arrays)
        return index


def _prepare_out(cfg: CollectConfig, meta: DatasetMeta) -> None:
    out = Path(cfg.out)
    if (out / META_FILE).is_file():
        old = load_meta(out)
        diffs = [k for k in _IDENTITY if getattr(old, k) != getattr(meta, k)]
        if diffs:
            detail = ", ".join(f"{k}: {getattr(old, k)!r} there vs {getattr(meta, k)!r} asked"
                               for k in diffs)
            raise DatasetError(f"out={str(out)!r} already holds a different dataset ({detail}); "
                               f"choose another out= or delete that directory")
        meta.episodes = max(meta.episodes, old.episodes)
    elif out.exists() and any(out.iterdir()):
        raise DatasetError(f"out={str(out)!r} exists, is not empty and is not a jepa-mpc dataset "
                           f"(no {META_FILE}); choose an empty or new directory")
    out.mkdir(parents=True, exist_ok=True)
    for stale in out.glob(".ep_*.tmp-*"):  # leftovers of a killed writer
        stale.unlink()
    write_json_atomic(out / META_FILE, meta.to_json())


def collect(cfg: CollectConfig) -> Path:
    """Collect ``cfg.episodes`` episodes into ``cfg.out`` (resuming any already there)."""
    if cfg.episodes < 1 or cfg.steps < 1:
        raise ValueError(f"episodes and steps must be positive, got {cfg.episodes}, {cfg.steps}")
    name = split_name(cfg.env)[0]
    env = make_env_from_config(cfg.env)
    pname, pkwargs = split_name(cfg.policy)
    make_policy(pname, env, **pkwargs)  # fail now on a bad policy, not in every worker
    meta = DatasetMeta(task=name, env=dict(cfg.env), image_size=env.image_size,
                       action_repeat=env.action_repeat, action_dim=env.action_dim,
                       proprio_dim=env.proprio_dim, state_dim=env.state_dim, steps=cfg.steps,
                       episodes=cfg.episodes, policy=dict(cfg.policy), seed=cfg.seed)
    env.close()
    _prepare_out(cfg, meta)
    todo = [i for i in range(cfg.episodes) if not episode_path(cfg.out, i).exists()]
    workers = min(cfg.workers or os.cpu_count() or 1, max(len(todo), 1))
    bar = tqdm(total=cfg.episodes, initial=cfg.episodes - len(todo), unit="ep",
               desc=f"collect {name}", disable=not cfg.progress)
    if workers <= 1:
        _Worker.init(cfg)
        for index in todo:
            _Worker.collect_one(index)
            bar.update(1)
    else:
        ctx = mp.get_context("spawn")  # no GL context or torch threads cross a fork
        with ctx.Pool(workers, initializer=_Worker.init, initargs=(cfg,)) as pool:
            for _ in pool.imap_unordered(_Worker.collect_one, todo):
                bar.update(1)
    bar.close()
    if cfg.preview > 0:
        from envs.preview import write_preview
        write_preview(cfg.out, Path(cfg.out) / "preview.mp4", episodes=cfg.preview)
    return Path(cfg.out)


"""``wm demo``: the end-to-end job on the built-in default task.

Stages that exist so far: collect a dataset with an exploration policy (and a preview video),
pretrain V-JEPA on its frames (passive video), and probe the frozen encoder against a random-init
one. Each stage's config is the command's own (``wm <stage> --help``), composed with the overrides
below; finished stages are reused on a second run unless ``force=true``.
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from envs.collect import CollectConfig, collect
from worldmodel.cli import compose
from worldmodel.data.storage import list_episodes


def _stage(n: int, total: int, name: str, done: bool, what: str) -> bool:
    print(f"[{n}/{total}] {name}: " + ("reusing finished stage (force=true redoes it)" if done
                                       else what))
    return done


def demo_command(cfg: DictConfig) -> Path:
    from worldmodel.commands import pretrain_command
    from worldmodel.probe import probe_command

    out = Path(cfg.out)
    print(f"wm demo: writing to {out.resolve()}")
    if cfg.force and out.exists():
        shutil.rmtree(out)
    data_dir, pre_dir, probe_dir = out / "data", out / "pretrain", out / "probe"
    env_name = cfg.env.name

    done = len(list_episodes(data_dir)) >= cfg.episodes if data_dir.exists() else False
    if not _stage(1, 3, "collect", done,
                  f"{cfg.episodes} episodes x {cfg.steps} steps of env={env_name}"):
        collect(CollectConfig(env=OmegaConf.to_container(cfg.env, resolve=True),
                              policy=OmegaConf.to_container(cfg.policy, resolve=True),
                              episodes=cfg.episodes, steps=cfg.steps, out=str(data_dir),
                              seed=cfg.seed, workers=cfg.workers, preview=4))

    summary_path = pre_dir / "train_summary.json"
    done = summary_path.is_file() and \
        json.loads(summary_path.read_text())["steps"] >= cfg.pretrain_steps
    if not _stage(2, 3, "pretrain", done, f"V-JEPA on the frames, {cfg.pretrain_steps} steps"):
        pretrain_command(compose("pretrain", [f"env={env_name}", f"data_dir={data_dir}",
                                              f"out={pre_dir}",
                                              f"train.steps={cfg.pretrain_steps}",
                                              f"train.seed={cfg.seed}",
                                              *cfg.pretrain_overrides]))

    done = (probe_dir / "results.json").is_file()
    if not _stage(3, 3, "probe", done, "attentive probe, pretrained vs random-init encoder"):
        probe_command(compose("probe", [f"env={env_name}", f"data_dir={data_dir}",
                                        f"encoder={pre_dir / 'checkpoint.pt'}",
                                        f"out={probe_dir}", f"seed={cfg.seed}",
                                        *cfg.probe_overrides]))
    else:
        print((probe_dir / "probe.md").read_text())
    print(f"dataset: {data_dir}\npreview video: {data_dir / 'preview.mp4'}\n"
          f"encoder checkpoint: {pre_dir / 'checkpoint.pt'}\nprobe: {probe_dir / 'probe.md'}")
    return out

"""``wm demo``: the end-to-end job on the built-in default task.

Stages: collect a dataset with an exploration policy (and a preview video), pretrain V-JEPA on its
frames (passive video), train the action-conditioned predictor on the frozen encoder, and plan
with CEM toward held-out goal images (random actions on the same pairs as the reference row).
``probe=true`` adds the frozen-feature probe (pretrained vs random-init encoder). Each stage's config
is the command's own (``wm <stage> --help``), composed with the overrides below; finished stages
are reused on a second run unless ``force=true``.
"""
from __future__ import annotations

import shutil
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from envs.collect import CollectConfig, collect
from worldmodel.cli import compose
from worldmodel.data.storage import list_episodes
from worldmodel.train.loop import is_trained


def _stage(n: int, total: int, name: str, done: bool, what: str) -> bool:
    print(f"[{n}/{total}] {name}: " + ("reusing finished stage (force=true redoes it)" if done
                                       else what))
    return done


def demo_command(cfg: DictConfig) -> Path:
    from planners.commands import plan_command
    from worldmodel.commands import pretrain_command, train_command
    from worldmodel.probe import probe_command

    out = Path(cfg.out)
    print(f"wm demo: writing to {out.resolve()}")
    if cfg.force and out.exists():
        shutil.rmtree(out)
    data_dir, pre_dir, wm_dir = out / "data", out / "pretrain", out / "world_model"
    plan_dir, probe_dir = out / "plan", out / "probe"
    env_name = cfg.env.name
    env_args = [f"env={env_name}"] + [f"env.{k}={v}" for k, v in cfg.env.items() if k != "name"]
    total = 5 if cfg.probe else 4

    done = len(list_episodes(data_dir)) >= cfg.episodes if data_dir.exists() else False
    if not _stage(1, total, "collect", done,
                  f"{cfg.episodes} episodes x {cfg.steps} steps of env={env_name}"):
        collect(CollectConfig(env=OmegaConf.to_container(cfg.env, resolve=True),
                              policy=OmegaConf.to_container(cfg.policy, resolve=True),
                              episodes=cfg.episodes, steps=cfg.steps, out=str(data_dir),
                              seed=cfg.seed, workers=cfg.workers, preview=4))

    if not _stage(2, total, "pretrain", is_trained(pre_dir, cfg.pretrain_steps),
                  f"V-JEPA on the frames, {cfg.pretrain_steps} steps"):
        pretrain_command(compose("pretrain", [f"env={env_name}", f"data_dir={data_dir}",
                                              f"out={pre_dir}",
                                              f"train.steps={cfg.pretrain_steps}",
                                              f"train.seed={cfg.seed}",
                                              *cfg.pretrain_overrides]))

    if not _stage(3, total, "train", is_trained(wm_dir, cfg.train_steps),
                  f"action-conditioned predictor on the frozen encoder, {cfg.train_steps} steps"):
        train_command(compose("train", [f"env={env_name}", f"data_dir={data_dir}",
                                        f"encoder={pre_dir / 'checkpoint.pt'}", f"out={wm_dir}",
                                        f"train.steps={cfg.train_steps}",
                                        f"train.seed={cfg.seed}", *cfg.train_overrides]))

    results = plan_dir / "results.json"
    if not _stage(4, total, "plan", results.is_file(),
                  f"CEM toward {cfg.plan_episodes} held-out goal images, and random actions"):
        plan_command(compose("plan", [*env_args, f"model={wm_dir / 'checkpoint.pt'}",
                                      f"episodes={cfg.plan_episodes}", f"out={plan_dir}",
                                      f"seed={cfg.seed}", *cfg.plan_overrides]),
                     command=f"wm demo out={cfg.out}")
    else:
        print((plan_dir / "summary.md").read_text())

    if cfg.probe:
        done = (probe_dir / "results.json").is_file()
        if not _stage(5, total, "probe", done, "attentive probe, pretrained vs random-init"):
            probe_command(compose("probe", [f"env={env_name}", f"data_dir={data_dir}",
                                            f"encoder={pre_dir / 'checkpoint.pt'}",
                                            f"out={probe_dir}", f"seed={cfg.seed}",
                                            *cfg.probe_overrides]))
        else:
            print((probe_dir / "probe.md").read_text())
    demo_results = out / "results.json"
    shutil.copyfile(results, demo_results)
    print(f"dataset: {data_dir} (preview {data_dir / 'preview.mp4'})\n"
          f"encoder: {pre_dir / 'checkpoint.pt'}\nworld model: {wm_dir / 'checkpoint.pt'}\n"
          f"planning: {demo_results}, {plan_dir / 'summary.md'}, videos in {plan_dir / 'videos'}")
    return out

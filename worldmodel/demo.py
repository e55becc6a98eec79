"""``wm demo``: the end-to-end job on the built-in default task.

Stages: collect a dataset with an exploration policy (and a preview video), pretrain V-JEPA on its
frames (passive video), train the action-conditioned predictor on the frozen encoder, and plan
with CEM toward held-out goal images (random actions on the same pairs as the reference row).
``probe=true`` adds the frozen-feature probe (pretrained vs random-init encoder). Each stage's config
is the command's own (``wm <stage> --help``), composed with the overrides below; finished stages
are reused on a second run unless ``force=true``. ``out/stages.json`` records the settings each
stage runs with: a stage whose settings changed since (or that has no record), and every stage after
it, is redone from scratch rather than reused with stale results; an interrupted stage with the same
settings resumes.
"""
from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from envs.collect import CollectConfig, collect
from worldmodel.cli import compose
from worldmodel.data.storage import list_episodes
from worldmodel.goal_readout import READOUT_PATH, task_goal_spec
from worldmodel.train.loop import is_trained
from worldmodel.train.stages import StageRecord


class _Stages:
    """The demo's stages in order: each is reused only if its recorded settings are today's and
    no earlier stage was redone (later stages depend on it). See :class:`StageRecord`."""

    def __init__(self, out: Path, total: int):
        self.record, self.total = StageRecord(out), total
        self.redoing = False

    def reuse(self, n: int, name: str, finished: bool, settings: Any, stage_dir: Path,
              what: str) -> bool:
        """Print the stage's line and return True to reuse it; False once it is prepared to run
        (settings recorded, ``stage_dir`` cleared unless it is an interrupted run to resume)."""
        existed = stage_dir.exists()
        run = self.record.prepare(name, stage_dir, settings, finished, stale=self.redoing)
        why = ""
        if existed and not stage_dir.exists():          # cleared: it is redone from scratch
            why = (" (an earlier stage is redone)" if self.redoing else
                   " (its settings changed since it ran)")
        print(f"[{n}/{self.total}] {name}: " + (what + why if run else
                                               "reusing finished stage (force=true redoes it)"))
        self.redoing = self.redoing or run
        return not run


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
    out.mkdir(parents=True, exist_ok=True)
    stages = _Stages(out, total)

    collect_cfg = CollectConfig(env=OmegaConf.to_container(cfg.env, resolve=True),
                                policy=OmegaConf.to_container(cfg.policy, resolve=True),
                                episodes=cfg.episodes, steps=cfg.steps, out=str(data_dir),
                                seed=cfg.seed, workers=cfg.workers, preview=4)
    settings = {"env": collect_cfg.env, "policy": collect_cfg.policy, "episodes": cfg.episodes,
                "steps": cfg.steps, "seed": cfg.seed}
    done = len(list_episodes(data_dir)) >= cfg.episodes if data_dir.exists() else False
    if not stages.reuse(1, "collect", done, settings, data_dir,
                        f"{cfg.episodes} episodes x {cfg.steps} steps of env={env_name}"):
        collect(collect_cfg)

    settings = [f"env={env_name}", f"data_dir={data_dir}", f"out={pre_dir}",
                f"train.steps={cfg.pretrain_steps}", f"train.seed={cfg.seed}",
                *cfg.pretrain_overrides]
    if not stages.reuse(2, "pretrain", is_trained(pre_dir, cfg.pretrain_steps), settings,
                        pre_dir, f"V-JEPA on the frames, {cfg.pretrain_steps} steps"):
        pretrain_command(compose("pretrain", settings))

    settings = [f"env={env_name}", f"data_dir={data_dir}",
                f"encoder={pre_dir / 'checkpoint.pt'}", f"out={wm_dir}",
                f"train.steps={cfg.train_steps}", f"train.seed={cfg.seed}", *cfg.train_overrides]
    # a model trained before `wm train` fitted goal readouts resumes to fit one (it is finished)
    wants_readout = bool(task_goal_spec(env_name))
    finished = is_trained(wm_dir, cfg.train_steps) and (
        not wants_readout or (wm_dir / READOUT_PATH).is_file())
    if not stages.reuse(3, "train", finished, settings, wm_dir,
                        f"action-conditioned predictor on the frozen encoder, "
                        f"{cfg.train_steps} steps"):
        train_command(compose("train", settings))

    results = plan_dir / "results.json"
    settings = [*env_args, f"model={wm_dir / 'checkpoint.pt'}", f"episodes={cfg.plan_episodes}",
                f"out={plan_dir}", f"seed={cfg.seed}", *cfg.plan_overrides]
    if not stages.reuse(4, "plan", results.is_file(), settings, plan_dir,
                        f"CEM toward {cfg.plan_episodes} held-out goal images, and random "
                        f"actions"):
        plan_command(compose("plan", settings), command=f"wm demo out={cfg.out}")
    else:
        print((plan_dir / "summary.md").read_text())

    if cfg.probe:
        settings = [f"env={env_name}", f"data_dir={data_dir}",
                    f"encoder={pre_dir / 'checkpoint.pt'}", f"out={probe_dir}",
                    f"seed={cfg.seed}", *cfg.probe_overrides]
        if not stages.reuse(5, "probe", (probe_dir / "results.json").is_file(), settings,
                            probe_dir, "attentive probe, pretrained vs random-init"):
            probe_command(compose("probe", settings))
        else:
            print((probe_dir / "probe.md").read_text())
    demo_results = out / "results.json"
    shutil.copyfile(results, demo_results)
    print(f"dataset: {data_dir} (preview {data_dir / 'preview.mp4'})\n"
          f"encoder: {pre_dir / 'checkpoint.pt'}\nworld model: {wm_dir / 'checkpoint.pt'}\n"
          f"planning: {demo_results}, {plan_dir / 'summary.md'}, videos in {plan_dir / 'videos'}")
    return out

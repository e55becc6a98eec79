"""``wm plan``: evaluate a planner with a world model on held-out start/goal pairs.

Example: ``wm plan env=reach model=runs/reach/world_model/checkpoint.pt planner=cem episodes=50``.
The planner and, with ``reference=true``, random actions run on the same pairs; the report goes to
``out`` (``results.json``, ``summary.md``, ``videos/``, ``plot_costs.png``).

The config key is ``world_model``; on the command line ``model=...`` is accepted as its alias
(``worldmodel.cli.KEY_ALIASES``), since Hydra would otherwise read it as a choice in the
``configs/model/`` group (architectures).
"""
from __future__ import annotations

import dataclasses
import shlex
import sys
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from envs.registry import make_env_from_config, split_name
from planners.evaluate import EvalConfig, evaluate, pairs_for
from planners.mpc import env_action_dim
from planners.report import write_report
from worldmodel.config import from_config

ORACLE = "oracle"


def build_model(cfg: dict[str, Any], env) -> Any:
    """The world model named by ``cfg["world_model"]``: a checkpoint path, or ``oracle`` (simulator
    dynamics, diagnostic only) with ``cfg["encoder"]`` (a checkpoint, or None: raw pixels)."""
    model = cfg.get("world_model")
    if model in (None, ""):
        raise ValueError("no world model given: pass model=CKPT (a trained world-model "
                         "checkpoint) or model=oracle (simulator dynamics, a diagnostic)")
    task, device = cfg["env"]["name"], cfg.get("device", "auto")
    if str(model) != ORACLE:
        if cfg.get("encoder") is not None:
            raise ValueError("encoder=... is only used with model=oracle; a world-model "
                             "checkpoint brings its own encoder")
        return _load(model, device, task, cfg.get("latent_space", "tokens"))
    from planners.oracle import OracleWorldModel, PixelEncoder

    encoder = (PixelEncoder(env_action_dim(env)) if cfg.get("encoder") is None
               else _load(cfg["encoder"], device, task, cfg.get("latent_space", "tokens")))
    return OracleWorldModel(lambda: make_env_from_config(cfg["env"]), encoder, env)


def _load(path: str, device: str, task: str, latent_space: str = "tokens"):
    if not Path(path).is_file():
        raise FileNotFoundError(f"world-model checkpoint {path!r} does not exist")
    from worldmodel.world_model import load_world_model

    return load_world_model(path, device=device, task=task, latent_space=latent_space)


def check_goal_proprio(planner, model) -> None:
    """``ValueError`` when the planner's cost weighs proprio (``planner.cost.proprio_weight``) but
    the world model cannot estimate a goal image's: the term would silently do nothing."""
    cost = getattr(getattr(planner, "cfg", None), "cost", None)
    if cost is not None and cost.proprio_weight > 0 and \
            getattr(model, "goal_readout", None) is None:
        raise ValueError(f"planner.cost.proprio_weight={cost.proprio_weight} needs the goal "
                         f"image's proprio, which this world model cannot estimate: it has no "
                         f"goal readout (`wm train` fits one as goal_readout.pt beside an "
                         f"action-conditioned model's checkpoint; re-run it with the same "
                         f"settings to add one to a model trained before)")


def command_line() -> str:
    """The command line of this process, as the user typed it (``wm plan ...``)."""
    return shlex.join([Path(sys.argv[0]).name, *sys.argv[1:]])


def plan_command(cfg: DictConfig | dict, command: str | None = None) -> dict[str, Any]:
    """``wm plan``: build env, model and planner; evaluate planner and random actions on the same
    held-out pairs; write the report to ``cfg.out`` (if set); print the summary. Returns the
    planner's result (``reference``: the random-actions result, when run)."""
    raw = OmegaConf.to_container(cfg, resolve=True) if isinstance(cfg, DictConfig) else dict(cfg)
    if raw.get("world_model") in (None, ""):
        build_model(raw, None)  # raises the "model=CKPT or model=oracle" message
    eval_cfg = from_config(EvalConfig, raw)
    planner_name, planner_kwargs = split_name(raw["planner"])
    env, model = make_env_from_config(raw["env"]), None
    try:
        model = build_model(raw, env)
        from planners.registry import make_planner

        planner = make_planner(planner_name, **planner_kwargs)
        check_goal_proprio(planner, model)
        pairs = pairs_for(env, eval_cfg)
        result = evaluate(env, model, planner, eval_cfg, pairs, desc=planner_name)
        reference = None
        if raw.get("reference", True):
            horizon = getattr(getattr(planner, "cfg", None), "horizon",
                              planner_kwargs.get("horizon", 5))
            random = make_planner("random", horizon=horizon, seed=eval_cfg.seed)
            reference = evaluate(env, model, random, dataclasses.replace(eval_cfg, videos=0),
                                 pairs, desc="random")
            reference.pop("records", None)
    finally:
        if hasattr(model, "close"):
            model.close()
        env.close()
    label = f"{planner_name} / {Path(str(raw['world_model'])).name}"
    from planners.report import format_summary

    print(format_summary(result, label, reference), end="")
    if raw.get("out"):
        paths = write_report(raw["out"], result, name=label, reference=reference, config=raw,
                             command=command if command is not None else command_line())
        videos = sum(k.startswith("video_") for k in paths)
        print(f"plan results: {paths['results']}, {paths['summary']}, {paths['plot']}"
              + (f", {videos} videos in {Path(raw['out']) / 'videos'}" if videos else ""))
    result.pop("records", None)
    if reference is not None:
        result["reference"] = reference
    return result

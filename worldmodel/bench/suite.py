"""``wm bench``: latent vs pixel world models under one protocol.

For each task of the suite: one dataset; one V-JEPA pretraining on the frames of every task of
the suite (passive video); then every model trained on the task's dataset with the same step
budget (wall time recorded): the action-conditioned predictor on the pretrained encoder (the
project's model), the same predictor on a random-init frozen encoder, and the pixel world model;
then every model evaluated with the same planner on the same held-out pairs, next to random
actions. A task with ``long_horizon`` adds the hierarchical model and compares flat and two-level
planning on far-apart pairs. The data-efficiency study retrains the three models on fractions of
the action-labelled episodes; the probe table scores each model's frozen encoder.

Every stage is reused on a rerun when it finished with the same settings and the same inputs
(``stages.json`` records each stage's settings and the size and modification time of the
checkpoints it read), so an interrupted suite resumes where it stopped, and a changed budget or a
retrained upstream model redoes exactly the stages downstream of it. ``force=true`` redoes
everything.
"""
from __future__ import annotations

import dataclasses
import json
import shutil
import time
from pathlib import Path
from typing import Any, Callable

from worldmodel.data.storage import list_episodes, write_json_atomic
from worldmodel.train.loop import is_trained
from worldmodel.train.stages import StageRecord

#: model rows trained on every task: name -> (``wm train`` overrides, label)
MODELS: dict[str, tuple[Callable[[Path], list[str]], str]] = {
    "vjepa_ac": (lambda pre: ["model=ac", f"encoder={pre}"],
                 "AC predictor, V-JEPA-pretrained encoder"),
    "random_ac": (lambda pre: ["model=ac", "encoder=random"],
                  "AC predictor, random-init encoder"),
    "pixel": (lambda pre: ["model=pixel"], "pixel world model"),
}


@dataclasses.dataclass
class BenchConfig:
    """What a suite runs (see ``configs/suite/quick.yaml`` for the meaning of each field)."""

    name: str = "quick"
    out: str = "runs/bench"
    tasks: list[str] = dataclasses.field(default_factory=lambda: ["reach"])
    long_horizon: list[str] = dataclasses.field(default_factory=list)
    episodes: int = 200
    episode_steps: int = 50
    pretrain_steps: int = 300
    train_steps: int = 600
    hier_steps: int = 400
    fractions: list[float] = dataclasses.field(default_factory=lambda: [0.1, 0.3, 1.0])
    data_efficiency_task: str = "reach"
    eval_episodes: int = 10
    eval_steps: int = 15
    long_eval_episodes: int = 10
    long_eval_steps: int = 30
    planner: dict[str, Any] = dataclasses.field(default_factory=dict)
    hier_planner: dict[str, Any] = dataclasses.field(default_factory=dict)
    probe_steps: int = 300
    image_size: int = 64
    pretrain_overrides: list[str] = dataclasses.field(default_factory=list)
    train_overrides: dict[str, list[str]] = dataclasses.field(default_factory=dict)
    seed: int = 0
    force: bool = False
    progress: bool = False


class Bench:
    """Runs the stages of a suite into ``cfg.out`` and collects what they measured."""

    def __init__(self, cfg: BenchConfig):
        self.cfg = cfg
        self.out = Path(cfg.out)
        self.results_path = self.out / "results.json"
        self.stages = StageRecord(self.out)
        self.results: dict[str, Any] = {"suite": cfg.name, "config": dataclasses.asdict(cfg),
                                        "training": {}, "rows": {}, "data_efficiency": {},
                                        "probe": {}, "stage_s": {}}

    # ------------------------------------------------------------------ helpers
    def _log(self, message: str) -> None:
        print(f"[bench {self.cfg.name}] {message}", flush=True)

    def _timed(self, key: str, fn: Callable[[], Any]) -> Any:
        t0 = time.perf_counter()
        value = fn()
        self.results["stage_s"][key] = round(time.perf_counter() - t0, 1)
        return value

    def _save(self) -> None:
        write_json_atomic(self.results_path, self.results)

    # ------------------------------------------------------------------ stage records
    def _prepare_run(self, key: str, out: Path, spec: dict[str, Any], steps: int) -> bool:
        """Whether training stage ``key`` must run. A finished run with the same ``spec`` is
        reused; a run begun with the same ``spec`` resumes; a run with another spec (budget,
        overrides, data or input checkpoints changed) is removed and starts afresh."""
        return self.stages.prepare(key, out, spec, is_trained(out, steps))

    # ------------------------------------------------------------------ stages
    def collect(self, task: str) -> Path:
        from envs.collect import CollectConfig, collect
        from worldmodel.cli import compose

        data = self.out / task / "data"
        if data.exists() and len(list_episodes(data)) >= self.cfg.episodes:
            return data
        self._log(f"{task}: collecting {self.cfg.episodes} episodes")
        cfg = compose("collect", [f"env={task}", f"env.image_size={self.cfg.image_size}"])
        from omegaconf import OmegaConf

        self._timed(f"collect/{task}", lambda: collect(CollectConfig(
            env=OmegaConf.to_container(cfg.env, resolve=True),
            policy=OmegaConf.to_container(cfg.policy, resolve=True),
            episodes=self.cfg.episodes, steps=self.cfg.episode_steps, out=str(data),
            seed=self.cfg.seed, workers=0, preview=0, progress=self.cfg.progress)))
        return data

    def pretrain(self, data_dirs: list[Path]) -> Path:
        from worldmodel.cli import compose
        from worldmodel.commands import pretrain_command

        out = self.out / "pretrain"
        spec = {"steps": self.cfg.pretrain_steps, "seed": self.cfg.seed,
                "data": {str(d): len(list_episodes(d)) for d in data_dirs},
                "overrides": self.cfg.pretrain_overrides}
        if self._prepare_run("pretrain", out, spec, self.cfg.pretrain_steps):
            self._log(f"V-JEPA pretraining on the frames of {len(data_dirs)} task(s), "
                      f"{self.cfg.pretrain_steps} steps")
            extra = "[" + ",".join(str(d) for d in data_dirs[1:]) + "]"
            self._timed("pretrain", lambda: pretrain_command(compose("pretrain", [
                f"data_dir={data_dirs[0]}", f"extra_data_dirs={extra}", f"out={out}",
                f"train.steps={self.cfg.pretrain_steps}", f"train.seed={self.cfg.seed}",
                f"train.progress={self.cfg.progress}", *self.cfg.pretrain_overrides])))
        self.results["training"]["pretrain"] = _summary(out)
        return out / "checkpoint.pt"

    def train(self, task: str, data: Path, name: str, overrides: list[str], steps: int,
              fraction: float = 1.0) -> Path:
        """Train model row ``name`` on ``task`` (a fraction of the training episodes)."""
        from worldmodel.cli import compose
        from worldmodel.commands import train_command

        tag = name if fraction == 1.0 else f"{name}@{fraction:g}"
        out = self.out / task / "models" / tag
        episodes = 0 if fraction == 1.0 else max(1, round(fraction * self._train_eps(data)))
        spec = {"steps": steps, "seed": self.cfg.seed, "episodes": episodes,
                "data": len(list_episodes(data)),
                "overrides": [*overrides, *self.cfg.train_overrides.get(name, [])],
                "inputs": {p: file_id(Path(p)) for p in _checkpoint_inputs(overrides)}}
        if self._prepare_run(f"{task}/{tag}", out, spec, steps):
            self._log(f"{task}: training {tag} ({steps} steps"
                      + (f", {episodes} episodes" if episodes else "") + ")")
            train_command(compose("train", [
                f"env={task}", f"data_dir={data}", f"out={out}", f"episodes={episodes}",
                f"train.steps={steps}", f"train.seed={self.cfg.seed}",
                f"train.progress={self.cfg.progress}", f"progress={self.cfg.progress}",
                *overrides,
                *self.cfg.train_overrides.get(name, [])]))
        self.results["training"][f"{task}/{tag}"] = _summary(out)
        return out / "checkpoint.pt"

    def _train_eps(self, data: Path) -> int:
        from worldmodel.data.dataset import split_episodes

        return len(split_episodes(len(list_episodes(data)), 0.1, 0)[0])

    def evaluate(self, task: str, key: str, checkpoint: Path | None, planner: dict[str, Any],
                 long: bool = False) -> dict[str, Any]:
        """Plan with ``planner`` in the model of ``checkpoint`` (None: random actions) on the
        task's held-out pairs; cached in ``<task>/plan/<key>.json``."""
        path = self.out / task / "plan" / f"{key.replace('/', '_')}.json"
        model_path = checkpoint if checkpoint is not None else \
            self.out / task / "models" / "vjepa_ac" / "checkpoint.pt"
        episodes = self.cfg.long_eval_episodes if long else self.cfg.eval_episodes
        steps = self.cfg.long_eval_steps if long else self.cfg.eval_steps
        spec = {"model": file_id(model_path), "reference": checkpoint is None,
                "planner": planner, "long": long, "seed": self.cfg.seed,
                "episodes": episodes, "steps": steps}
        stage = f"{task}/plan/{key}"
        if self.stages.is_current(stage, path, spec):
            return json.loads(path.read_text())
        from envs.registry import make_env
        from planners.evaluate import EvalConfig, evaluate, pairs_for
        from planners.registry import make_planner
        from worldmodel.world_model import load_world_model

        eval_cfg = EvalConfig(episodes=episodes, steps=steps, seed=self.cfg.seed,
                              pairs="long" if long else "default", videos=0,
                              progress=self.cfg.progress)
        settings = dict(planner)
        name = settings.pop("name")
        reference = checkpoint is None
        self._log(f"{task}: planning with {'random actions' if reference else name} in {key}"
                  f" ({episodes} {'long ' if long else ''}pairs x {steps} steps)")
        env = make_env(task, image_size=self.cfg.image_size)
        try:
            model = load_world_model(model_path, device="auto", task=task)
            if reference:
                name, settings = "random", {"horizon": settings.get("horizon", 5)}
            result = evaluate(env, model, make_planner(name, seed=self.cfg.seed, **settings),
                              eval_cfg, pairs_for(env, eval_cfg), desc=key)
        finally:
            env.close()
        result.pop("records", None)
        row = {k: result[k] for k in ("success_rate", "success_ci95", "successes", "episodes",
                                      "ever_success_rate", "final_distance_mean",
                                      "plan_ms_median", "plan_ms_p90")}
        row.update(planner=name, pairs="long" if long else "default", steps=steps)
        path.parent.mkdir(parents=True, exist_ok=True)
        write_json_atomic(path, row)
        self.stages.record(stage, spec)
        return row

    def probe(self, task: str, data: Path, checkpoints: dict[str, Path]) -> dict[str, Any]:
        from worldmodel.bench.encoders import probe_model_encoders

        path = self.out / task / "probe.json"
        spec = {"models": {k: file_id(p) for k, p in checkpoints.items()},
                "data": len(list_episodes(data)), "steps": self.cfg.probe_steps,
                "seed": self.cfg.seed}
        if not self.stages.is_current(f"{task}/probe", path, spec):
            self._log(f"{task}: frozen-feature probe of each model's encoder")
            write_json_atomic(path, probe_model_encoders(data, checkpoints,
                                                         self.cfg.probe_steps, self.cfg.seed,
                                                         self.cfg.progress))
            self.stages.record(f"{task}/probe", spec)
        return json.loads(path.read_text())

    # ------------------------------------------------------------------ the suite
    def run(self) -> dict[str, Any]:
        cfg = self.cfg
        if cfg.force and self.out.exists():
            shutil.rmtree(self.out)
        self.out.mkdir(parents=True, exist_ok=True)
        t0 = time.perf_counter()
        self._log(f"writing to {self.out.resolve()}")
        data = {task: self.collect(task) for task in cfg.tasks}
        pretrained = self.pretrain([data[t] for t in cfg.tasks])
        for task in cfg.tasks:
            rows: dict[str, Any] = {}
            ckpts = {}
            for name, (overrides, label) in MODELS.items():
                ckpts[name] = self.train(task, data[task], name, overrides(pretrained),
                                         cfg.train_steps)
            rows["random"] = self.evaluate(task, "random", None, cfg.planner)
            for name, (_, label) in MODELS.items():
                rows[name] = self.evaluate(task, name, ckpts[name], cfg.planner)
            if task in cfg.long_horizon:
                hier = self.train(task, data[task], "hier",
                                  ["model=hier", f"world_model={ckpts['vjepa_ac']}"],
                                  cfg.hier_steps)
                rows["vjepa_ac_long"] = self.evaluate(task, "vjepa_ac_long", ckpts["vjepa_ac"],
                                                      cfg.planner, long=True)
                rows["hier_long"] = self.evaluate(task, "hier_long", hier, cfg.hier_planner,
                                                  long=True)
                rows["random_long"] = self.evaluate(task, "random_long", None, cfg.planner,
                                                    long=True)
            self.results["rows"][task] = rows
            self.results["probe"][task] = self.probe(task, data[task], ckpts)
            self._save()
        task = cfg.data_efficiency_task
        if task in cfg.tasks:
            curve: dict[str, dict[str, Any]] = {}
            for name, (overrides, _) in MODELS.items():
                for fraction in cfg.fractions:
                    ckpt = self.train(task, data[task], name, overrides(pretrained),
                                      cfg.train_steps, fraction)
                    key = name if fraction == 1.0 else f"{name}@{fraction:g}"
                    row = self.evaluate(task, key, ckpt, cfg.planner)
                    curve.setdefault(name, {})[f"{fraction:g}"] = {
                        "success_rate": row["success_rate"],
                        "success_ci95": row["success_ci95"],
                        "final_distance_mean": row["final_distance_mean"],
                        "train_episodes": self.results["training"][
                            f"{task}/{key}"]["train_episodes"]}
            self.results["data_efficiency"] = {"task": task, "curves": curve}
        self.results["wall_s"] = round(time.perf_counter() - t0, 1)
        self._save()
        from worldmodel.bench.report import write_report

        paths = write_report(self.out, self.results)
        print(paths["table_text"], end="")
        self._log(f"results: {self.results_path}, {paths['table']}, plots: "
                  + ", ".join(str(p) for k, p in paths.items() if k.startswith("plot_")))
        return self.results


def file_id(path: Path) -> str:
    """A checkpoint's size and modification time: retraining it changes this, so the stages that
    read it are redone."""
    stat = Path(path).stat()
    return f"{stat.st_size}:{stat.st_mtime_ns}"


def _checkpoint_inputs(overrides: list[str]) -> list[str]:
    """The checkpoint files a ``wm train`` run reads (``encoder=PATH``, ``world_model=PATH``)."""
    pairs = (o.split("=", 1) for o in overrides if "=" in o)
    return [v for k, v in pairs if k in ("encoder", "world_model") and Path(v).is_file()]


#: state-dict prefixes of the parameters a run trains, by checkpoint kind (the rest is frozen)
TRAINED_PREFIXES = {"ac_world_model": ("net.predictor.",),
                    "hier_world_model": ("net.high.predictor.", "net.macro."),
                    "pixel_world_model": ("net.",), "vjepa": ("",)}


def _summary(run_dir: Path) -> dict[str, Any]:
    """Training wall time, steps, parameters (trained / in total, frozen encoder included) and
    episodes of a finished run."""
    import torch

    summary = json.loads((run_dir / "train_summary.json").read_text())
    ckpt = torch.load(run_dir / "checkpoint.pt", map_location="cpu", weights_only=False)
    prefixes = TRAINED_PREFIXES.get(ckpt.get("kind"), ("",))
    state = ckpt["model"]
    trained = sum(v.numel() for k, v in state.items() if k.startswith(prefixes))
    return {"wall_s": round(summary["wall_s"], 2), "steps": summary["steps"],
            "params": int(trained),     # shared tensors (one encoder, two levels) counted once
            "params_total": int(sum({v.data_ptr(): v.numel() for v in state.values()}.values())),
            "train_episodes": ckpt["meta"].get("train_episodes"), "kind": ckpt.get("kind")}


def bench_command(cfg) -> dict[str, Any]:
    """``wm bench suite=quick|full out=DIR``."""
    from omegaconf import OmegaConf

    from worldmodel.config import from_config

    raw = OmegaConf.to_container(cfg, resolve=True)
    suite = raw.pop("suite")
    return Bench(from_config(BenchConfig, {**suite, **raw})).run()

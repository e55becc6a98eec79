"""``wm eval-rollout``: how far ahead a world model predicts, on held-out episodes.

From a real frame and proprio, the model rolls out the dataset's own actions for ``horizon``
steps; its predictions are compared with the encodings of the frames that really followed (L1 in
the latent space planners use). The baseline "repeat the last latent" predicts no change at all: a
model that does not beat it has learned nothing about actions. Works for any model that implements
the planner protocol (the V-JEPA world model, the pixel baseline...).

Writes ``rollout_error.json``, ``rollout_error.md`` and ``rollout_error.png`` to ``out``, and, when
the model can ``decode``, ``imagined.mp4`` (real | imagined) for a few episodes.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np
import torch
from einops import rearrange
from tqdm import tqdm

from planners.costs import distance
from planners.protocol import Latent, WorldModel
from worldmodel.data.dataset import split_episodes
from worldmodel.data.storage import EpisodeStore, write_json_atomic, write_text_atomic


@dataclasses.dataclass
class RolloutEvalConfig:
    """Settings of ``wm eval-rollout``.

    Attributes:
        world_model: checkpoint of a trained world model.
        data_dir: dataset whose held-out episodes (the ``val_fraction`` split, the same split as
            training) are evaluated.
        horizon: prediction steps (model steps; each an action chunk of ``stride`` env steps).
        every: a rollout starts every ``every`` steps of each episode.
        videos: episodes written as real | imagined videos (models with ``decode`` only).
        out: where the results go; ``"auto"`` = ``eval_rollout/`` next to the world model's
            checkpoint (so a run never lands in another task's folder); None = print only.
    """

    world_model: str = "runs/reach/world_model/checkpoint.pt"
    data_dir: str = "runs/reach/data"
    out: str | None = None
    horizon: int = 5
    every: int = 5
    val_fraction: float = 0.1
    metric: str = "l1"
    videos: int = 2
    device: str = "auto"
    progress: bool = True


def rollout_errors(model: WorldModel, store: EpisodeStore, episodes, horizon: int,
                   every: int = 5, stride: int = 1, metric: str = "l1",
                   progress: bool = False) -> dict[str, np.ndarray]:
    """Mean distance between predicted and true latents at each horizon step ``[horizon]``, for
    the model and for repeating the last latent."""
    span = horizon * stride
    if span > store.meta.steps:
        raise ValueError(f"horizon {horizon} x stride {stride} = {span} steps exceeds the "
                         f"{store.meta.steps}-step episodes of {store.data_dir}")
    model_err, repeat_err = [], []
    for e in tqdm(list(episodes), desc="rollouts", disable=not progress, dynamic_ncols=True):
        ep = store[int(e)]
        starts = np.arange(0, store.meta.steps - span + 1, every)
        frames = np.array(ep["pixels"])
        with torch.no_grad():
            true = model.encode(frames, np.array(ep["proprio"]))
            actions = np.array(ep["actions"])
            chunks = np.stack([rearrange(actions[t: t + span], "(h s) a -> h (s a)", s=stride)
                               for t in starts])
            z0 = true.z[starts]
            p0 = None if true.proprio is None else true.proprio[starts]
            pred = model.rollout(Latent(z0, p0), torch.as_tensor(chunks, dtype=torch.float32))
            target = torch.stack([true.z[starts + stride * (h + 1)] for h in range(horizon)], 1)
            dims = target.ndim - 2
            model_err.append(distance(pred.z, target, metric, dims=dims).cpu().numpy())
            repeat_err.append(distance(z0[:, None].expand_as(target), target, metric,
                                       dims=dims).cpu().numpy())
    return {"model": np.concatenate(model_err).mean(0),
            "repeat_last": np.concatenate(repeat_err).mean(0)}


def format_table(errors: dict[str, np.ndarray]) -> str:
    h = len(errors["model"])
    lines = ["| horizon | " + " | ".join(str(i + 1) for i in range(h)) + " |",
             "|---|" + "---:|" * h]
    for name, row in errors.items():
        lines.append(f"| {name.replace('_', ' ')} | " + " | ".join(f"{v:.4f}" for v in row) + " |")
    return "\n".join(lines)


def plot_errors(errors: dict[str, np.ndarray], path: Path, title: str) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(4.5, 3.2))
    steps = np.arange(1, len(errors["model"]) + 1)
    for name, row in errors.items():
        ax.plot(steps, row, marker="o", label=name.replace("_", " "))
    ax.set_xlabel("prediction step")
    ax.set_ylabel("latent distance to the true future")
    ax.set_title(title, fontsize=9)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def write_videos(model, store: EpisodeStore, episodes, horizon: int, stride: int,
                 out: Path) -> list[Path]:
    """Real | imagined (decoded) frames of the first ``horizon`` model steps of some episodes."""
    from worldmodel.video import tile_frames, write_mp4

    paths = []
    for e in episodes:
        ep = store[int(e)]
        frames = np.array(ep["pixels"][: horizon * stride + 1: stride])
        actions = rearrange(np.array(ep["actions"][: horizon * stride]), "(h s) a -> h (s a)",
                            s=stride)
        with torch.no_grad():
            start = model.encode(frames[:1], np.array(ep["proprio"][:1]))
            pred = model.rollout(start, torch.as_tensor(actions, dtype=torch.float32)[None])
            imagined = np.concatenate([frames[:1], model.decode(pred.z[0])])
        paths.append(write_mp4(out / f"imagined_{int(e):03d}.mp4",
                               tile_frames([frames, imagined]), fps=4))
    return paths


def eval_rollout(cfg: RolloutEvalConfig) -> dict[str, Any]:
    from worldmodel.world_model import load_world_model

    store = EpisodeStore(cfg.data_dir)
    model = load_world_model(cfg.world_model, device=cfg.device, task=store.meta.task)
    if model.image_size != store.meta.image_size:
        raise ValueError(f"world model sees {model.image_size}px frames, {cfg.data_dir} has "
                         f"{store.meta.image_size}px")
    stride = int(model.meta.get("stride", 1))
    _, val = split_episodes(len(store), cfg.val_fraction, 0)
    errors = rollout_errors(model, store, val, cfg.horizon, cfg.every, stride, cfg.metric,
                            cfg.progress)
    ratio = errors["model"] / np.maximum(errors["repeat_last"], 1e-12)
    result = {"task": store.meta.task, "world_model": cfg.world_model, "episodes": len(val),
              "metric": cfg.metric, "horizon": cfg.horizon,
              "model": errors["model"].tolist(), "repeat_last": errors["repeat_last"].tolist(),
              "ratio_to_repeat_last": ratio.tolist()}
    table = format_table(errors)
    print(f"held-out rollout error on {len(val)} episodes of {store.meta.task} "
          f"({cfg.metric} in latent space; lower is better)\n{table}\n"
          f"model / repeat-last at horizon {cfg.horizon}: {ratio[-1]:.2f}")
    if cfg.out:
        out = Path(cfg.world_model).parent / "eval_rollout" if cfg.out == "auto" else Path(cfg.out)
        out.mkdir(parents=True, exist_ok=True)
        write_json_atomic(out / "rollout_error.json", result)
        write_text_atomic(out / "rollout_error.md", table + "\n")
        plot_errors(errors, out / "rollout_error.png", f"{store.meta.task}: held-out rollouts")
        if cfg.videos and hasattr(model, "decode"):
            write_videos(model, store, val[: cfg.videos], cfg.horizon, stride, out)
        print(f"written to {out}")
    return result


def eval_rollout_command(cfg) -> dict[str, Any]:
    from worldmodel.config import from_config
    return eval_rollout(from_config(RolloutEvalConfig, cfg))

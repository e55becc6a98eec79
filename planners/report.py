"""Writing an evaluation to disk: results.json, summary.md, episode MP4s and the cost plot."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from planners.mpc import EpisodeRecord
from worldmodel.data.storage import write_json_atomic, write_text_atomic
from worldmodel.video import tile_frames, write_mp4

#: the numbers of a row (results.json top level and the ``reference`` block)
ROW_KEYS = ("success_rate", "success_ci95", "successes", "ever_success_rate", "episodes",
            "final_distance_mean", "plan_ms_median", "plan_ms_p90")


def row(result: dict[str, Any]) -> dict[str, Any]:
    """The headline numbers of an :func:`planners.evaluate.evaluate` result."""
    return {k: result[k] for k in ROW_KEYS if k in result}


def format_summary(result: dict[str, Any], name: str,
                   reference: dict[str, Any] | None = None) -> str:
    """A markdown table: the planner/model row and, if given, the random-actions row."""
    intro = (f"MPC on {result['episodes']} held-out start/goal pairs; success at the end of the "
             f"budget with a Wilson 95% interval.")
    header = ("| planner / model | success | 95% CI | ever success | final distance "
              "| plan ms (median) | plan ms (p90) |")
    lines = [intro, "", header, "|---|---:|---:|---:|---:|---:|---:|"]
    rows = [(name, result)] + ([("random actions", reference)] if reference else [])
    for label, r in rows:
        low, high = r["success_ci95"]
        lines.append(f"| {label} | {r['success_rate']:.2f} | [{low:.2f}, {high:.2f}] "
                     f"| {r['ever_success_rate']:.2f} | {r['final_distance_mean']:.3f} "
                     f"| {r['plan_ms_median']:.1f} | {r['plan_ms_p90']:.1f} |")
    return "\n".join(lines) + "\n"


def episode_video(record: EpisodeRecord) -> np.ndarray:
    """Agent view | goal image | decoded imagined rollout of the first plan (when the model can
    decode), one frame per env step; imagined model steps are repeated ``chunk`` times."""
    columns = [record.frames, record.goal[None]]
    if record.imagined is not None and len(record.imagined):
        imagined = np.repeat(np.asarray(record.imagined, np.uint8), record.chunk, axis=0)
        first = record.frames[:1] if imagined.shape[1:] == record.frames.shape[1:] else imagined[:1]
        columns.append(np.concatenate([first, imagined]))
    return tile_frames(columns)


def plot_costs(path: str | Path, curves: dict[str, list[float]]) -> Path:
    """PNG of the median best cost per planner iteration (one line per named curve)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    fig, ax = plt.subplots(figsize=(5, 3.5), dpi=100)
    for label, curve in curves.items():
        if curve:
            ax.plot(np.arange(1, len(curve) + 1), curve, marker="o", markersize=3, label=label)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("planner iteration")
    ax.set_ylabel("predicted cost (median over replans)")
    ax.grid(alpha=0.3)
    if any(curves.values()):
        ax.legend()
    else:
        ax.text(0.5, 0.5, "no cost curve reported", ha="center", transform=ax.transAxes)
    fig.tight_layout()
    path = Path(path)
    tmp = path.with_name(f".{path.stem}.tmp{path.suffix}")
    fig.savefig(tmp)
    plt.close(fig)
    tmp.replace(path)
    return path


def write_report(out: str | Path, result: dict[str, Any], *, name: str = "planner",
                 reference: dict[str, Any] | None = None, config: dict[str, Any] | None = None,
                 command: str | None = None, fps: int = 10) -> dict[str, Path]:
    """Write ``results.json``, ``summary.md``, ``videos/episode_XXX.mp4`` and ``plot_costs.png``
    to ``out``; return the written paths by kind."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    data = {k: v for k, v in result.items() if k != "records"}
    data.update(name=name, config=config or {}, command=command or "")
    if reference is not None:
        data["reference"] = {"name": "random actions", **row(reference)}
    paths = {"results": out / "results.json", "summary": out / "summary.md"}
    write_json_atomic(paths["results"], data)
    write_text_atomic(paths["summary"], format_summary(result, name, reference))
    for i, record in enumerate(result.get("records", [])):
        paths[f"video_{i}"] = write_mp4(out / "videos" / f"episode_{i:03d}.mp4",
                                        episode_video(record), fps=fps)
    paths["plot"] = plot_costs(out / "plot_costs.png",
                               {name: result.get("cost_curve_median", [])})
    return paths

"""The bench's report: a markdown table of every row and PNG plots, from ``results.json``."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from worldmodel.data.storage import write_text_atomic

#: row key -> (label, the training run it comes from, relative to the task)
ROWS: dict[str, tuple[str, str | None]] = {
    "random": ("random actions", None),
    "pixel": ("pixel world model", "pixel"),
    "random_ac": ("AC predictor, random-init frozen encoder", "random_ac"),
    "vjepa_ac": ("AC predictor, V-JEPA-pretrained encoder", "vjepa_ac"),
    "random_long": ("random actions (long pairs)", None),
    "vjepa_ac_long": ("flat CEM, V-JEPA AC (long pairs)", "vjepa_ac"),
    "hier_long": ("hierarchical, V-JEPA AC (long pairs)", "hier"),
}


def _row_line(task: str, key: str, row: dict[str, Any], training: dict[str, Any]) -> str:
    label, run = ROWS.get(key, (key, None))
    lo, hi = row["success_ci95"]
    train = training.get(f"{task}/{run}") if run else None
    wall = f"{train['wall_s']:.0f}" if train else "-"
    params = f"{train['params'] / 1e6:.2f}M" if train else "-"
    return (f"| {task} | {label} | {row['success_rate']:.2f} [{lo:.2f}, {hi:.2f}] | "
            f"{row['final_distance_mean']:.3f} | {row['plan_ms_median']:.0f} | {wall} | "
            f"{params} |")


def format_table(results: dict[str, Any]) -> str:
    """The markdown tables: planning rows, data efficiency, probe."""
    cfg = results["config"]
    lines = [f"Suite `{results['suite']}`: {cfg['episodes']} episodes per task, every model "
             f"trained {cfg['train_steps']} steps (hierarchical high level {cfg['hier_steps']}), "
             f"V-JEPA pretrained {cfg['pretrain_steps']} steps; planner "
             f"`{cfg['planner'].get('name')}` on {cfg['eval_episodes']} held-out pairs x "
             f"{cfg['eval_steps']} steps ({cfg['long_eval_episodes']} x "
             f"{cfg['long_eval_steps']} for long pairs); success at the end of the budget with a "
             f"95% Wilson interval.", "",
             "| task | model | success [95% CI] | final distance | plan ms (median) | "
             "train s | trained params |", "|---|---|---|---:|---:|---:|---:|"]
    for task, rows in results["rows"].items():
        for key, row in rows.items():
            lines.append(_row_line(task, key, row, results["training"]))
    eff = results.get("data_efficiency") or {}
    if eff.get("curves"):
        fractions = sorted({f for c in eff["curves"].values() for f in c}, key=float)
        lines += ["", f"Data efficiency on `{eff['task']}`: success against the share of "
                      f"action-labelled training episodes.", "",
                  "| model | " + " | ".join(f"{float(f):.0%}" for f in fractions) + " |",
                  "|---|" + "---:|" * len(fractions)]
        for name, curve in eff["curves"].items():
            cells = [f"{curve[f]['success_rate']:.2f} ({curve[f]['train_episodes']} ep)"
                     if f in curve else "-" for f in fractions]
            lines.append(f"| {ROWS.get(name, (name,))[0]} | " + " | ".join(cells) + " |")
    for task, probe in (results.get("probe") or {}).items():
        names = probe["targets"]
        lines += ["", f"Frozen-encoder probe on `{task}` (attentive probe, R^2 on held-out "
                      f"episodes).", "", "| encoder | R^2 | " + " | ".join(names) + " |",
                  "|---|---:|" + "---:|" * len(names)]
        for name, row in probe["rows"].items():
            per = " | ".join(f"{row['r2_per_target'][n]:.3f}" for n in names)
            lines.append(f"| {ROWS.get(name, (name,))[0]} | {row['r2']:.3f} | {per} |")
    return "\n".join(lines) + "\n"


def write_report(out: str | Path, results: dict[str, Any]) -> dict[str, Any]:
    """Write ``table.md`` and the PNG plots into ``out``; returns their paths (and the text)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = Path(out)
    text = format_table(results)
    write_text_atomic(out / "table.md", text)
    paths: dict[str, Any] = {"table": out / "table.md", "table_text": text}
    tasks = list(results["rows"])

    fig, axes = plt.subplots(1, len(tasks), figsize=(5 * len(tasks), 4), squeeze=False)
    for ax, task in zip(axes[0], tasks):
        rows = results["rows"][task]
        keys = list(rows)
        rates = [rows[k]["success_rate"] for k in keys]
        err = [[r - rows[k]["success_ci95"][0] for k, r in zip(keys, rates)],
               [rows[k]["success_ci95"][1] - r for k, r in zip(keys, rates)]]
        ax.bar(range(len(keys)), rates, yerr=err, capsize=3, color="tab:blue")
        ax.set_xticks(range(len(keys)), [ROWS.get(k, (k,))[0] for k in keys], rotation=60,
                      ha="right", fontsize=7)
        ax.set_ylim(0, 1)
        ax.set_title(f"{task}: success (95% CI)")
    fig.tight_layout()
    paths["plot_success"] = _save(fig, out / "plot_success.png")

    fig, (ax_t, ax_p) = plt.subplots(1, 2, figsize=(10, 4))
    for task in tasks:
        for key, row in results["rows"][task].items():
            run = ROWS.get(key, (key, None))[1]
            train = results["training"].get(f"{task}/{run}") if run else None
            label = f"{task}: {ROWS.get(key, (key,))[0]}"
            if train:
                ax_t.scatter(train["wall_s"], row["success_rate"], label=label)
            ax_p.barh(label, row["plan_ms_median"])
    ax_t.set_xlabel("training wall time (s)")
    ax_t.set_ylabel("success")
    ax_t.set_ylim(-0.02, 1.02)
    ax_t.legend(fontsize=6)
    ax_t.set_title("success against training time")
    ax_p.set_xlabel("median planning time per replan (ms)")
    ax_p.tick_params(axis="y", labelsize=6)
    ax_p.set_title("planning time")
    fig.tight_layout()
    paths["plot_time"] = _save(fig, out / "plot_time.png")

    eff = results.get("data_efficiency") or {}
    if eff.get("curves"):
        fig, ax = plt.subplots(figsize=(5, 4))
        for name, curve in eff["curves"].items():
            fs = sorted(curve, key=float)
            ax.plot([curve[f]["train_episodes"] for f in fs],
                    [curve[f]["success_rate"] for f in fs], marker="o",
                    label=ROWS.get(name, (name,))[0])
        ax.set_xscale("log")
        ax.set_xlabel("action-labelled training episodes")
        ax.set_ylabel("success")
        ax.set_ylim(-0.02, 1.02)
        ax.legend(fontsize=7)
        ax.set_title(f"data efficiency ({eff['task']})")
        fig.tight_layout()
        paths["plot_data_efficiency"] = _save(fig, out / "plot_data_efficiency.png")
    return paths


def _save(fig, path: Path) -> Path:
    import matplotlib.pyplot as plt

    tmp = path.with_name(f".{path.stem}.tmp.png")
    fig.savefig(tmp, dpi=110)
    plt.close(fig)
    tmp.replace(path)
    return path

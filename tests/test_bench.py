"""The benchmark suite on a toy budget: every stage runs, every file and row is written, and a
rerun reuses the finished stages."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from worldmodel.bench.suite import Bench, BenchConfig

OPT_TOY = ["train.batch_size=8", "train.warmup=1", "train.cooldown=1"]
AC_TOY = ["model.projection=8", "model.predictor.dim=16", "model.predictor.depth=1",
          "model.predictor.heads=2", "num_frames=3", *OPT_TOY]
TINY_PLANNER = {"name": "cem", "horizon": 2, "samples": 6, "iterations": 1, "elites": 2}


@pytest.fixture(scope="module")
def toy_bench(tmp_path_factory):
    out = tmp_path_factory.mktemp("bench")
    cfg = BenchConfig(
        name="toy", out=str(out), tasks=["pointmaze"], long_horizon=["pointmaze"],
        episodes=6, episode_steps=12, image_size=32, pretrain_steps=2, train_steps=3,
        hier_steps=2, fractions=[0.5, 1.0], data_efficiency_task="pointmaze",
        eval_episodes=2, eval_steps=2, long_eval_episodes=2, long_eval_steps=3,
        planner=TINY_PLANNER,
        hier_planner={"name": "hier", "high": {"horizon": 2, "samples": 6, "iterations": 1,
                                               "elites": 2},
                      "low": {"horizon": 2, "samples": 6, "iterations": 1, "elites": 2}},
        probe_steps=3,
        pretrain_overrides=["+model.encoder.dim=48", "+model.encoder.depth=1",
                            "+model.encoder.heads=2", "model.predictor.dim=24",
                            "model.predictor.depth=1", "model.predictor.heads=2",
                            "num_frames=2", "train.batch_size=4", "train.warmup=1",
                            "train.cooldown=1"],
        train_overrides={
            "vjepa_ac": AC_TOY,
            "random_ac": [*AC_TOY, "+model.random_encoder.dim=48",
                          "+model.random_encoder.depth=1", "+model.random_encoder.heads=2"],
            "pixel": ["num_frames=3", "model.channels=[8,8,8]", *OPT_TOY],
            "hier": ["model.k=2", "model.high_frames=3", "+model.predictor.depth=1", *OPT_TOY]})
    return cfg, Bench(cfg).run()


def test_bench_writes_every_file_and_row(toy_bench):
    cfg, results = toy_bench
    out = cfg.out
    saved = json.loads(open(f"{out}/results.json").read())
    rows = saved["rows"]["pointmaze"]
    assert set(rows) == {"random", "pixel", "random_ac", "vjepa_ac", "vjepa_ac_long",
                         "hier_long", "random_long"}
    for row in rows.values():
        lo, hi = row["success_ci95"]
        assert 0 <= lo <= row["success_rate"] <= hi <= 1 and row["plan_ms_median"] > 0
    assert rows["hier_long"]["pairs"] == "long" and rows["vjepa_ac"]["pairs"] == "default"
    for run in ("pixel", "random_ac", "vjepa_ac", "hier", "pixel@0.5"):
        train = saved["training"][f"pointmaze/{run}"]
        assert train["steps"] >= 2 and train["wall_s"] > 0 and train["params"] > 0
    curves = saved["data_efficiency"]["curves"]
    assert set(curves) == {"vjepa_ac", "random_ac", "pixel"}
    assert curves["pixel"]["0.5"]["train_episodes"] < curves["pixel"]["1"]["train_episodes"]
    assert set(saved["probe"]["pointmaze"]["rows"]) == {"vjepa_ac", "random_ac", "pixel"}
    table = open(f"{out}/table.md").read()
    for label in ("random actions", "pixel world model", "random-init frozen encoder",
                  "V-JEPA-pretrained encoder", "hierarchical", "Data efficiency",
                  "Frozen-encoder probe"):
        assert label in table
    for plot in ("plot_success.png", "plot_time.png", "plot_data_efficiency.png"):
        assert (Path(out) / plot).stat().st_size > 1000


def test_bench_rerun_reuses_finished_stages(toy_bench, capsys):
    cfg, results = toy_bench
    again = Bench(cfg).run()
    printed = capsys.readouterr().out
    for stage in ("collecting", "pretraining", ": training ", "planning with", "probe of"):
        assert stage not in printed
    assert again["rows"] == results["rows"]


def test_pixel_probe_tokens_know_their_grid_cell():
    import torch

    from worldmodel.bench.encoders import PixelModelEncoder
    from worldmodel.models.pixel_predictor import PixelPredictor, PixelPredictorConfig

    predictor = PixelPredictor(PixelPredictorConfig(image_size=32, action_dim=2))
    tokens = PixelModelEncoder(predictor, position_dim=12).encode_frames(
        torch.zeros(2, 1, 3, 32, 32))
    assert tokens.shape[:2] == (2, 16)                   # a 4 x 4 feature map
    codes = tokens[0, :, -12:]
    assert torch.cdist(codes, codes).add(torch.eye(16)).min() > 0.1  # every cell distinct


def test_bench_rerun_with_a_changed_budget_redoes_only_the_stages_it_touches(toy_bench, capsys):
    cfg, results = toy_bench
    changed = BenchConfig(**{**cfg.__dict__, "hier_steps": cfg.hier_steps + 1})
    again = Bench(changed).run()
    printed = capsys.readouterr().out
    assert "training hier" in printed and "planning with hier in hier_long" in printed
    for stage in ("collecting", "pretraining", "training vjepa_ac", "training pixel",
                  "in vjepa_ac_long", "probe of"):
        assert stage not in printed
    assert again["training"]["pointmaze/hier"]["steps"] == cfg.hier_steps + 1
    assert again["rows"]["pointmaze"]["vjepa_ac"] == results["rows"]["pointmaze"]["vjepa_ac"]

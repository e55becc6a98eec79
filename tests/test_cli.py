"""The ``wm`` command line: dispatch, help, Hydra overrides, clear errors."""
import json

import torch

from worldmodel.cli import main
from worldmodel.data.storage import EpisodeStore
from worldmodel.train.checkpoint import load_checkpoint


def test_help_lists_commands(capsys):
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    assert "collect" in out and "show" in out and "demo" in out


def test_command_help_prints_its_composed_config(capsys):
    assert main(["collect", "env=pointmaze", "--help"]) == 0
    out = capsys.readouterr().out
    assert "layout: umaze" in out and "episodes: 200" in out


def test_collect_and_show_with_overrides(tmp_path, capsys):
    out = tmp_path / "data"
    assert main(["collect", "env=pointmaze", "env.image_size=24", "episodes=2", "steps=5",
                 f"out={out}", "workers=1", "preview=0", "progress=false"]) == 0
    store = EpisodeStore(out)
    assert store.meta.task == "pointmaze" and store.meta.image_size == 24 and len(store) == 2
    assert main(["show", f"data_dir={out}", "episodes=2"]) == 0
    assert (out / "preview.mp4").stat().st_size > 0


def test_errors_are_one_clear_line(tmp_path, capsys):
    assert main(["frobnicate"]) == 2
    assert "unknown command 'frobnicate'" in capsys.readouterr().err
    assert main(["collect", "env=nope", f"out={tmp_path / 'x'}"]) == 2
    err = capsys.readouterr().err
    assert "Could not find 'env/nope'" in err and "reach" in err
    assert main(["show", f"data_dir={tmp_path / 'missing'}"]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert main(["collect", "episodes=two"]) == 2
    assert not (tmp_path / "x").exists()


def test_demo_runs_every_stage_then_reuses_them(tmp_path, capsys):
    def hydra_list(items):
        return "[" + ",".join(f"'{item}'" for item in items) + "]"

    pretrain = ["num_frames=2", "train.batch_size=4", "train.warmup=1", "train.cooldown=1",
                "train.progress=false", "+model.encoder.dim=48", "+model.encoder.depth=1",
                "+model.encoder.heads=2"]
    probe = ["steps=5", "frames_per_episode=3", "progress=false"]
    train = ["model.projection=8", "model.predictor.dim=16", "model.predictor.depth=1",
             "model.predictor.heads=2", "train.batch_size=4", "train.warmup=1",
             "train.cooldown=1", "train.progress=false", "progress=false"]
    plan = ["steps=3", "planner.samples=16", "planner.elites=4", "planner.iterations=2",
            "videos=1", "progress=false"]
    args = ["demo", f"out={tmp_path}", "env.image_size=32", "episodes=4", "steps=6",
            "workers=1", "pretrain_steps=2", f"pretrain_overrides={hydra_list(pretrain)}",
            "train_steps=3", f"train_overrides={hydra_list(train)}", "plan_episodes=2",
            f"plan_overrides={hydra_list(plan)}", "probe=true",
            f"probe_overrides={hydra_list(probe)}"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "[2/5] pretrain: V-JEPA" in out and "random_init" in out and "random actions" in out
    for path in ["data/preview.mp4", "pretrain/checkpoint.pt", "world_model/checkpoint.pt",
                 "plan/results.json", "plan/videos/episode_000.mp4", "probe/results.json",
                 "results.json"]:
        assert (tmp_path / path).is_file(), path
    results = json.loads((tmp_path / "results.json").read_text())
    assert results["episodes"] == 2 and "reference" in results
    assert main(args) == 0
    out = capsys.readouterr().out
    assert out.count("reusing finished stage") == 5
    # changed training settings: the world model and what follows it are redone, not reused
    before = (tmp_path / "world_model" / "checkpoint.pt").stat().st_mtime_ns
    changed = [a.replace("model.predictor.dim=16", "model.predictor.dim=8") for a in args]
    assert main(changed) == 0
    out = capsys.readouterr().out
    assert out.count("reusing finished stage") == 2             # collect and pretrain
    assert "train: action-conditioned predictor on the frozen encoder, 3 steps (its settings " \
           "changed since it ran)" in out
    assert "plan: CEM toward 2 held-out goal images, and random actions (an earlier stage is " \
           "redone)" in out
    assert (tmp_path / "world_model" / "checkpoint.pt").stat().st_mtime_ns != before
    recorded = json.loads((tmp_path / "stages.json").read_text())
    assert "model.predictor.dim=8" in recorded["train"] and set(recorded) == {
        "collect", "pretrain", "train", "plan", "probe"}
    # a world model from before goal readouts: the train stage resumes to fit one, untrained
    readout = tmp_path / "world_model" / "goal_readout.pt"
    assert readout.is_file()
    readout.unlink()
    weights = load_checkpoint(tmp_path / "world_model" / "checkpoint.pt")["model"]
    assert main(changed) == 0
    out = capsys.readouterr().out
    assert "[3/5] train: action-conditioned predictor" in out and readout.is_file()
    again = load_checkpoint(tmp_path / "world_model" / "checkpoint.pt")["model"]
    assert all(torch.equal(weights[k], again[k]) for k in weights)

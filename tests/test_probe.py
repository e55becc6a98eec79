"""Frozen evaluation with an attentive probe (worldmodel/probe.py)."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from conftest import small_collect
from envs.collect import collect
from worldmodel.data.storage import DatasetError
from worldmodel.probe import (AttentiveProbe, ProbeConfig, extract_features, fit_probe, predict,
                              label_shares, probe_command, r2_score, run_probe)
from worldmodel.models import VideoViT, vit_config
from worldmodel.train.checkpoint import CheckpointError, save_checkpoint





def _probe_cfg(data_dir, **overrides) -> ProbeConfig:
    cfg = dict(data_dir=str(data_dir), frames_per_episode=6, steps=40, batch_size=32,
               progress=False, device="cpu")
    cfg.update(overrides)
    return ProbeConfig(**cfg)


@pytest.fixture
def checkpoint(pretrain_checkpoint):
    return pretrain_checkpoint


# ------------------------------------------------------------------------------- probe + R^2
def test_r2_perfect_and_mean():
    rng = np.random.default_rng(0)
    y = rng.normal(size=(50, 3))
    assert np.allclose(r2_score(y, y), 1.0)
    assert np.allclose(r2_score(np.broadcast_to(y.mean(0), y.shape), y), 0.0)
    # per target; torch inputs and 1-D inputs work too
    pred = y.copy()
    pred[:, 1] = y[:, 1].mean()
    assert np.allclose(r2_score(torch.from_numpy(pred), torch.from_numpy(y)), [1.0, 0.0, 1.0])
    assert r2_score(y[:, 0], y[:, 0]).shape == (1,)
    # worse than the mean is negative; a constant target stays finite
    assert r2_score(-y, y).mean() < 0
    assert np.allclose(r2_score(np.ones((4, 1)), np.ones((4, 1))), 1.0)


def test_probe_shapes_and_errors():
    probe = AttentiveProbe(16, 3, heads=4, num_queries=2)
    assert probe(torch.randn(5, 7, 16)).shape == (5, 3)
    with pytest.raises(ValueError, match="divisible"):
        AttentiveProbe(10, 3, heads=4)
    with pytest.raises(ValueError, match="tokens"):
        probe(torch.randn(5, 7, 8))


def test_attentive_probe_learns_signal_token():
    """Only one token per sample (at a random place, flagged by a marker channel) carries the
    target; the probe must find it: R^2 > 0.9 on held-out samples."""
    g = torch.Generator().manual_seed(0)
    n, tokens, dim = 1280, 12, 16
    y = torch.randn(n, 2, generator=g)
    x = torch.randn(n, tokens, dim, generator=g)
    where = torch.randint(tokens, (n,), generator=g)
    rows = torch.arange(n)
    x[rows, where] = 0.1 * torch.randn(n, dim, generator=g)
    x[rows, where, 0:2] = y
    x[rows, where, 2] = 4.0  # marker
    probe = fit_probe(x[:1024], y[:1024], steps=400, batch_size=128, lr=3e-3, seed=0)
    r2 = r2_score(predict(probe, x[1024:]), y[1024:])
    assert r2.mean() > 0.9, r2


# ------------------------------------------------------------------------------- features
def test_extract_features_one_frame_at_a_time(reach_data):
    torch.manual_seed(0)
    encoder = VideoViT(vit_config("tiny", image_size=32, num_frames=2, dim=24, depth=1, heads=2))
    tokens, states = extract_features(encoder, reach_data, [0, 2], frames_per_episode=4,
                                      batch_size=3, progress=False)
    assert tokens.shape == (8, 16, 24) and tokens.dtype == torch.float32
    assert states.shape[0] == 8
    # the same frame alone gives the same tokens; frames are evenly spaced over the episode
    from worldmodel.data.storage import EpisodeStore
    from worldmodel.data.transforms import frames_to_model
    store = EpisodeStore(reach_data)
    last = torch.from_numpy(np.array(store[2]["pixels"][-1])).permute(2, 0, 1)[None, None]
    with torch.inference_mode():
        alone = encoder.encode_frames(frames_to_model(last))[0, 0]
    assert torch.allclose(tokens[-1], alone, atol=1e-5)
    assert np.allclose(states[-1], store[2]["state"][-1])
    all_tokens, _ = extract_features(encoder, reach_data, [1], progress=False)
    assert all_tokens.shape[0] == store.meta.steps + 1


# ------------------------------------------------------------------------------- run_probe
def test_run_probe_random_only_writes_results(reach_data, tmp_path):
    out = tmp_path / "probe"
    result = run_probe(_probe_cfg(reach_data, out=str(out)))
    assert list(result["rows"]) == ["random_init"]
    row = result["rows"]["random_init"]
    assert math.isfinite(row["r2"])
    assert set(row["r2_per_target"]) == set(result["targets"]) == {
        "cos_shoulder", "sin_shoulder", "cos_elbow", "sin_elbow"}
    assert row["tokens"] == 16 and row["feature_dim"] == 192  # tiny preset at 32x32
    # label-free health score: the held-out frames' pooled features vary along several directions
    assert 2.0 < row["feature_rank"] < result["val_frames"]
    assert result["task"] == "reach"
    assert result["train_frames"] + result["val_frames"] == 6 * 6
    assert result["val_episodes"] >= 1
    saved = json.loads((out / "results.json").read_text())
    assert saved["rows"]["random_init"]["r2"] == pytest.approx(row["r2"])
    table = (out / "probe.md").read_text()
    assert "random_init" in table and "cos_shoulder" in table and "feature rank" in table
    assert not list(out.glob(".*tmp*"))


def test_label_shares_are_nested_episode_counts():
    assert label_shares([1.0, 0.1, 0.5], 40) == [(0.1, 4), (0.5, 20), (1.0, 40)]
    assert label_shares(0.01, 40) == [(0.01, 1)]   # at least one episode
    for bad in ([], [0.0], [1.5], [-0.2, 1.0]):
        with pytest.raises(ValueError, match="label_fractions"):
            label_shares(bad, 40)


def test_low_shot_probe_keeps_held_out_set_and_full_share_result(reach_data, tmp_path):
    full = run_probe(_probe_cfg(reach_data))
    out = tmp_path / "low_shot"
    both = run_probe(_probe_cfg(reach_data, label_fractions=[0.5, 1.0], out=str(out)))
    assert list(both["by_fraction"]) == ["0.5", "1.0"]
    half, whole = both["by_fraction"]["0.5"], both["by_fraction"]["1.0"]
    assert whole["random_init"]["train_episodes"] == 4 == both["train_episodes"]
    assert half["random_init"]["train_episodes"] == 2
    # the full-label row is the plain run's, number for number; the held-out set is unchanged
    assert both["rows"]["random_init"]["r2"] == full["rows"]["random_init"]["r2"]
    assert both["val_frames"] == full["val_frames"]
    # half the labels is a different fit
    assert half["random_init"]["r2"] != whole["random_init"]["r2"]
    table = (out / "probe.md").read_text()
    assert "50% (2)" in table and "100% (4)" in table


def test_probe_over_several_seeds_reports_their_mean_and_each_seed(reach_data, tmp_path):
    single = run_probe(_probe_cfg(reach_data, seed=1))["rows"]["random_init"]
    out = tmp_path / "seeds"
    result = run_probe(_probe_cfg(reach_data, seeds=[0, 1], out=str(out)))
    row = result["rows"]["random_init"]
    assert result["seeds"] == [0, 1] and set(result["by_seed"]) == {"0", "1"}
    assert row["r2_seeds"][1] == single["r2"]               # each seed is its own plain run
    assert row["r2_seeds"][0] != row["r2_seeds"][1]         # a seed redraws probe and encoder
    assert row["r2"] == pytest.approx(np.mean(row["r2_seeds"]))
    assert row["r2_per_target"]["sin_elbow"] == pytest.approx(np.mean(
        [result["by_seed"][s]["rows"]["random_init"]["r2_per_target"]["sin_elbow"]
         for s in ("0", "1")]))
    table = (out / "probe.md").read_text()
    assert "R^2 per seed" in table and f"{row['r2_seeds'][0]:.3f} / " in table
    with pytest.raises(ValueError, match="distinct"):
        run_probe(_probe_cfg(reach_data, seeds=[1, 1]))


def test_probe_over_seeds_encodes_the_checkpoint_once_and_redraws_random_init(
        reach_data, checkpoint, monkeypatch):
    import worldmodel.probe as probe_module
    plain = run_probe(_probe_cfg(reach_data, encoder=checkpoint, seed=1))["rows"]
    encoded = []
    real = probe_module.extract_features
    monkeypatch.setattr(probe_module, "extract_features",
                        lambda *a, desc, **kw: encoded.append(desc) or real(*a, desc=desc, **kw))
    rows = run_probe(_probe_cfg(reach_data, encoder=checkpoint, seeds=[0, 1]))["rows"]
    assert encoded.count("pretrained train") == 1 and encoded.count("random_init train") == 2
    for name in ("pretrained", "random_init"):           # the same numbers as a plain seed-1 run
        assert rows[name]["r2_seeds"][1] == plain[name]["r2"]


def test_run_probe_with_checkpoint_has_both_rows(reach_data, checkpoint):
    result = run_probe(_probe_cfg(reach_data, encoder=checkpoint))
    assert list(result["rows"]) == ["pretrained", "random_init"]
    for row in result["rows"].values():
        assert math.isfinite(row["r2"]) and row["feature_dim"] == 48
    assert result["encoder_meta"]["image_size"] == 32


def test_probe_command_from_hydra_config(reach_data, tmp_path):
    from worldmodel.cli import compose
    cfg = compose("probe", [f"data_dir={reach_data}", f"out={tmp_path}", "steps=5",
                            "frames_per_episode=2", "progress=false", "device=cpu",
                            "seeds=[0,2]"])
    result = probe_command(cfg)
    assert "random_init" in result["rows"] and (tmp_path / "results.json").is_file()
    assert result["seeds"] == [0, 2] and len(result["rows"]["random_init"]["r2_seeds"]) == 2


# ------------------------------------------------------------------------------- errors
def test_checkpoint_of_other_image_size(checkpoint, tmp_path):
    data = collect(small_collect(tmp_path / "data16", env={"name": "reach", "image_size": 16},
                                 episodes=2, steps=3))
    with pytest.raises(ValueError, match="32x32.*16x16"):
        run_probe(_probe_cfg(data, encoder=checkpoint))


def test_checkpoint_of_other_kind(reach_data, tmp_path):
    path = tmp_path / "other.pt"
    save_checkpoint(path, {"kind": "world_model", "arch": {}, "model": {}, "meta": {}})
    with pytest.raises(CheckpointError, match="world_model"):
        run_probe(_probe_cfg(reach_data, encoder=str(path)))


def test_missing_data_dir_and_too_few_episodes(tmp_path):
    with pytest.raises(DatasetError, match="does not exist"):
        run_probe(_probe_cfg(tmp_path / "nowhere"))
    one = collect(small_collect(tmp_path / "one", episodes=1, steps=3))
    with pytest.raises(ValueError, match="1 episode"):
        run_probe(_probe_cfg(one))
    with pytest.raises(ValueError, match="nothing to probe"):
        run_probe(_probe_cfg(one, include_random=False))

"""V-JEPA pretraining end to end: loss falls on video, exact resume, DDP, encoder loading."""
import json
import os
import subprocess
import sys

import pytest
import torch

from worldmodel.pretrain import PretrainConfig, load_encoder, pretrain
from worldmodel.train import TrainConfig
from worldmodel.train.checkpoint import CheckpointError

TINY = {"size": "tiny", "dim": 48, "depth": 2, "heads": 2}
TINY_PRED = {"dim": 24, "depth": 1, "heads": 2}


def tiny_pretrain(data, out, steps=40, **train):
    train = {"steps": steps, "batch_size": 8, "lr": 2e-3, "warmup": 3, "cooldown": 5,
             "log_every": 5, "ckpt_every": 10, "progress": False, **train}
    cfg = PretrainConfig(data_dirs=[str(data)], out=str(out), num_frames=2, encoder=TINY,
                         predictor=TINY_PRED, train=TrainConfig(**train))
    return pretrain(cfg)


def test_pretraining_on_passive_video_lowers_the_loss(reach_data, tmp_path):
    summary = tiny_pretrain(reach_data, tmp_path, steps=40)
    rows = (tmp_path / "log.csv").read_text().splitlines()[1:]
    losses = [float(r.split(",")[1]) for r in rows]
    assert losses[-1] < 0.7 * losses[0]
    assert summary["spread_random_init"] > 0 and summary["spread_target"] > 0
    assert 1.0 < summary["rank_target"] and 1.0 < summary["rank_random_init"] < 64  # 64 clips
    saved = json.loads((tmp_path / "train_summary.json").read_text())
    assert saved["rank_target"] == pytest.approx(summary["rank_target"])
    assert "target_rank" in (tmp_path / "log.csv").read_text().splitlines()[0]
    encoder, meta = load_encoder(tmp_path / "checkpoint.pt", image_size=32)
    assert meta["tasks"] == ["reach"] and not any(p.requires_grad for p in encoder.parameters())
    frames = torch.randn(2, 3, 3, 32, 32)
    assert encoder.encode_frames(frames).shape == (2, 3, 16, 48)


def test_resumed_pretraining_equals_an_uninterrupted_run(reach_data, tmp_path):
    tiny_pretrain(reach_data, tmp_path / "full", steps=12)
    tiny_pretrain(reach_data, tmp_path / "split", steps=12, stop_at=5)
    tiny_pretrain(reach_data, tmp_path / "split", steps=12)
    a = torch.load(tmp_path / "full" / "checkpoint.pt", weights_only=False)["model"]
    b = torch.load(tmp_path / "split" / "checkpoint.pt", weights_only=False)["model"]
    assert a.keys() == b.keys()
    for k in a:  # online encoder, EMA target encoder and predictor alike
        assert torch.equal(a[k], b[k]), k


def test_two_process_ddp_pretraining_keeps_ranks_identical(reach_data, tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
           "-m", "worldmodel.cli", "pretrain", f"data_dir={reach_data}", f"out={tmp_path}",
           "env.image_size=32", "num_frames=2", "+model.encoder.dim=48", "+model.encoder.depth=2",
           "+model.encoder.heads=2", "model.predictor.dim=24", "model.predictor.depth=1",
           "model.predictor.heads=2", "train.steps=4", "train.batch_size=4", "train.warmup=1",
           "train.cooldown=1", "train.progress=false"]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = json.loads((tmp_path / "train_summary.json").read_text())
    assert summary["world_size"] == 2 and summary["ranks_identical"] and summary["steps"] == 4


def test_wrong_inputs_give_clear_errors(reach_data, tmp_path):
    from worldmodel.models import VideoViT, vit_config

    encoder = VideoViT(vit_config("tiny", image_size=32, num_frames=2, dim=48, depth=1, heads=2))
    with pytest.raises(ValueError, match="expected"):
        encoder(torch.zeros(2, 2, 3, 64, 64))  # clip of the wrong image size
    tiny_pretrain(reach_data, tmp_path, steps=2)
    with pytest.raises(ValueError, match="32x32 frames, the data here is 64x64"):
        load_encoder(tmp_path / "checkpoint.pt", image_size=64)
    torch.save({"version": 1, "kind": "pixel"}, tmp_path / "other.pt")
    with pytest.raises(CheckpointError, match="not a 'vjepa' one"):
        load_encoder(tmp_path / "other.pt")

"""The shared training loop: loss falls, exact resume, DDP over 2 processes, clear errors."""
import csv
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from toy_training import LinearData, ToyObjective, train_toy
from worldmodel.train import TrainConfig, Trainer
from worldmodel.train.checkpoint import CheckpointError, load_checkpoint
from worldmodel.train.optim import param_groups, warmup_constant_cooldown


def test_loss_falls_and_logs_are_written(tmp_path):
    _, summary = train_toy(tmp_path)
    with open(tmp_path / "log.csv") as f:
        rows = list(csv.DictReader(f))
    assert [int(r["step"]) for r in rows] == list(range(5, 61, 5))
    assert float(rows[-1]["loss"]) < 0.2 * float(rows[0]["loss"])
    assert {"lr", "grad_norm", "clips_per_s", "noise_mean"} <= set(rows[0])
    assert summary["steps"] == 60 and (tmp_path / "checkpoint.pt").is_file()


def test_resumed_run_equals_uninterrupted_run(tmp_path):
    full, _ = train_toy(tmp_path / "full", steps=60)
    part, summary = train_toy(tmp_path / "resumed", steps=60, max_minutes=1e-9)
    assert summary["stopped_early"] and summary["steps"] == 1
    part, _ = train_toy(tmp_path / "resumed", steps=60, stop_at=35)  # interrupted at 35
    resumed, summary = train_toy(tmp_path / "resumed", steps=60)  # picks up at 35
    assert summary["resumed_from"] == 35
    for (name, a), b in zip(full.objective.state_dict().items(),
                            resumed.objective.state_dict().values()):
        assert torch.equal(a, b), name
    with open(tmp_path / "resumed" / "log.csv") as f:
        steps = [int(r["step"]) for r in csv.DictReader(f)]
    assert steps == sorted(set(steps))  # no duplicated rows after resuming


def test_two_process_ddp_ends_with_identical_weights(tmp_path):
    script = Path(__file__).with_name("toy_training.py")
    env = {**os.environ, "OMP_NUM_THREADS": "1",
           "PYTHONPATH": os.pathsep.join([str(script.parent), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2",
                           "--standalone", str(script), str(tmp_path)],
                          capture_output=True, text=True, env=env, timeout=240)
    assert proc.returncode == 0, proc.stderr[-3000:]
    w0 = torch.load(tmp_path / "rank0.pt")
    w1 = torch.load(tmp_path / "rank1.pt")
    assert all(torch.equal(w0[k], w1[k]) for k in w0)
    # and the weights actually moved away from the shared initialisation
    torch.manual_seed(0)
    init = ToyObjective().state_dict()
    assert not torch.equal(init["net.0.weight"], w0["net.0.weight"])


def test_validation_rows_use_fixed_held_out_batches(tmp_path):
    torch.manual_seed(0)
    cfg = TrainConfig(out=str(tmp_path), steps=20, batch_size=16, lr=1e-2, warmup=2, cooldown=2,
                      log_every=10, val_every=10, val_batches=2, progress=False)
    Trainer(ToyObjective(), LinearData(), cfg, kind="toy", arch={},
            val_dataset=LinearData()).fit()
    with open(tmp_path / "log.csv") as f:
        rows = list(csv.DictReader(f))
    assert [float(r["val_loss"]) for r in rows][1] < float(rows[0]["val_loss"])


def test_schedule_and_weight_decay_groups():
    lrs = [warmup_constant_cooldown(s, 100, 10, 20) for s in range(100)]
    assert lrs[0] == pytest.approx(0.1) and lrs[9] == 1.0 and lrs[50] == 1.0
    assert lrs[-1] == pytest.approx(0.0) and lrs[90] < lrs[80] < 1.0
    decay, no_decay = param_groups(ToyObjective(), 0.04)
    assert decay["weight_decay"] == 0.04 and no_decay["weight_decay"] == 0.0
    assert len(decay["params"]) == 2  # the two Linear weights; biases and the norm do not decay
    assert len(no_decay["params"]) == 4  # frozen EMA parameters are left out


def test_checkpoint_of_another_kind_or_architecture_is_refused(tmp_path):
    train_toy(tmp_path, steps=5)
    path = tmp_path / "checkpoint.pt"
    with pytest.raises(CheckpointError, match="holds a 'toy' model, not a 'vjepa' one"):
        load_checkpoint(path, kind="vjepa")
    with pytest.raises(CheckpointError, match="hidden=16 in the checkpoint vs 32 here"):
        load_checkpoint(path, kind="toy", arch={"hidden": 32})
    with pytest.raises(CheckpointError, match="does not exist"):
        load_checkpoint(tmp_path / "nope.pt")
    (tmp_path / "junk.pt").write_bytes(b"junk")
    with pytest.raises(CheckpointError, match="not a readable checkpoint"):
        load_checkpoint(tmp_path / "junk.pt")
    # resuming into a directory holding another architecture's checkpoint is refused too
    cfg = TrainConfig(out=str(tmp_path), steps=10, progress=False)
    trainer = Trainer(ToyObjective(), LinearData(), cfg, kind="toy", arch={"hidden": 32})
    with pytest.raises(CheckpointError, match="another architecture"):
        trainer.fit()


def test_bad_device_and_precision_are_refused(tmp_path):
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA is not available"):
            train_toy(tmp_path / "a", device="cuda")
        with pytest.raises(ValueError, match="only supported on CUDA"):
            train_toy(tmp_path / "b", precision="bf16")

"""A toy objective for the training-loop tests; also a script for the 2-process DDP test:

    python -m torch.distributed.run --nproc_per_node=2 tests/toy_training.py OUT_DIR
"""
from __future__ import annotations

import sys

import torch
from torch import nn
from torch.utils.data import Dataset

from worldmodel.train import TrainConfig, Trainer


class LinearData(Dataset):
    """y = x @ W* + noise, 256 samples."""

    def __init__(self, n: int = 256, seed: int = 0):
        g = torch.Generator().manual_seed(seed)
        self.x = torch.randn(n, 8, generator=g)
        self.w = torch.randn(8, 3, generator=g)
        self.y = self.x @ self.w + 0.01 * torch.randn(n, 3, generator=g)

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        return {"x": self.x[i], "y": self.y[i]}


class ToyObjective(nn.Module):
    """A regression with dropout-like randomness from the generator and an EMA copy."""

    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(8, 16), nn.LayerNorm(16), nn.Linear(16, 3))
        self.ema = nn.Linear(8, 3)
        self.ema.requires_grad_(False)

    def forward(self, batch, generator):
        noise = torch.randn(batch["x"].shape, generator=generator) * 0.01
        loss = (self.net(batch["x"] + noise) - batch["y"]).pow(2).mean()
        return loss, {"noise_mean": float(noise.mean())}

    def on_step_end(self, step, total):
        with torch.no_grad():
            self.ema.weight.mul_(0.9).add_(0.1 * self.net[2].weight[:, :8].mean())


def train_toy(out, steps=60, **overrides) -> tuple[Trainer, dict]:
    torch.manual_seed(0)
    cfg = TrainConfig(out=str(out), steps=steps, batch_size=16, lr=1e-2, warmup=5, cooldown=10,
                      log_every=5, ckpt_every=20, progress=False, **overrides)
    trainer = Trainer(ToyObjective(), LinearData(), cfg, kind="toy", arch={"hidden": 16})
    return trainer, trainer.fit()


if __name__ == "__main__":
    import torch.distributed as dist

    trainer, _ = train_toy(sys.argv[1], steps=30)
    torch.save(trainer.objective.state_dict(), f"{sys.argv[1]}/rank{dist.get_rank()}.pt")
    trainer.close()

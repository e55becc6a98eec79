"""The training loop: one piece of code for every model the project trains.

What it trains is an *objective*: an ``nn.Module`` whose ``forward(batch, generator)`` returns
``(loss, stats)`` and which may define ``on_step_end(step, total_steps)`` (e.g. an EMA update).
Parameters with ``requires_grad=False`` (a frozen encoder, an EMA target) ride along in
checkpoints but are never optimised.

Exact resume: the batch of step ``s`` and the random generator handed to the objective depend only
on ``(seed, s, rank)``, and a checkpoint holds the model, optimiser and step, so a run stopped and
resumed ends with the same weights as an uninterrupted one.
"""
from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import time
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset, Sampler
from tqdm import tqdm

from worldmodel.data.storage import write_json_atomic
from worldmodel.train.checkpoint import load_checkpoint, save_checkpoint
from worldmodel.train.distributed import (DistInfo, all_mean, barrier, init_distributed,
                                          ranks_identical, shutdown)
from worldmodel.train.logger import CSVLogger
from worldmodel.train.optim import make_optimizer, warmup_constant_cooldown

CHECKPOINT_NAME = "checkpoint.pt"


@dataclasses.dataclass
class TrainConfig:
    """Optimisation and bookkeeping settings shared by every training command."""

    out: str = "runs/train"
    steps: int = 1000
    batch_size: int = 32          # per process
    lr: float = 5e-4
    weight_decay: float = 0.04
    beta1: float = 0.9
    beta2: float = 0.999
    warmup: int = 100
    cooldown: int = 200
    final_lr_ratio: float = 0.0
    grad_clip: float = 1.0
    seed: int = 0
    device: str = "auto"          # auto | cpu | cuda | cuda:1 ...
    precision: str = "auto"       # auto (bf16 on CUDA, fp32 on CPU) | fp32 | bf16
    compile: bool = False         # torch.compile, used on CUDA only
    num_workers: int = 0
    threads: int = 0              # torch CPU threads; 0 = leave torch's default
    log_every: int = 10
    ckpt_every: int = 200
    val_every: int = 0            # 0: no validation
    val_batches: int = 4
    max_minutes: float = 0.0      # wall-clock budget; 0 = none (stops cleanly, resumable)
    stop_at: int = 0              # stop at this step (checkpointed, resumable); 0 = run to steps
    progress: bool = True
    tensorboard: bool = False
    resume: bool = True


def is_trained(run_dir: str | Path, steps: int) -> bool:
    """Whether ``run_dir`` holds a finished run of at least ``steps`` steps (its
    ``train_summary.json``, written by :meth:`Trainer.fit`), so a pipeline can reuse it."""
    summary = Path(run_dir) / "train_summary.json"
    return summary.is_file() and json.loads(summary.read_text())["steps"] >= steps


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device={name!r} was asked for but CUDA is not available")
    return device


def autocast_context(device: torch.device, precision: str):
    """bf16 autocast on CUDA only (CPU bf16 matmuls are slow on small CPUs); fp32 elsewhere."""
    if precision not in ("auto", "fp32", "bf16"):
        raise ValueError(f"precision must be auto, fp32 or bf16, got {precision!r}")
    if device.type == "cuda" and precision in ("auto", "bf16"):
        return torch.autocast(device_type="cuda", dtype=torch.bfloat16)
    if precision == "bf16":
        raise ValueError("precision=bf16 is only supported on CUDA here; use fp32 on CPU")
    return contextlib.nullcontext()


def step_seed(seed: int, step: int, rank: int = 0, stream: int = 0) -> int:
    return int(np.random.SeedSequence([seed, step, rank, stream]).generate_state(1)[0])


class StepBatchSampler(Sampler):
    """Distributed batch sampler keyed by step: step ``s`` draws a global batch of
    ``batch_size * world_size`` indices from a generator seeded by ``(seed, s)`` and each rank takes
    its own disjoint slice. Resuming at any step reproduces the same batches."""

    def __init__(self, size: int, batch_size: int, seed: int, start: int, stop: int,
                 rank: int = 0, world_size: int = 1):
        self.size, self.batch_size, self.seed = size, batch_size, seed
        self.start, self.stop, self.rank, self.world = start, stop, rank, world_size

    def __len__(self) -> int:
        return max(self.stop - self.start, 0)

    def __iter__(self) -> Iterator[list[int]]:
        for step in range(self.start, self.stop):
            g = torch.Generator().manual_seed(step_seed(self.seed, step))
            idx = torch.randint(self.size, (self.batch_size * self.world,), generator=g)
            yield idx[self.rank * self.batch_size:(self.rank + 1) * self.batch_size].tolist()


def _to_device(batch: dict[str, torch.Tensor], device: torch.device) -> dict[str, torch.Tensor]:
    return {k: v.to(device, non_blocking=True) for k, v in batch.items()}


class Trainer:
    """Trains ``objective`` on ``dataset`` with ``cfg``; checkpoints to ``cfg.out``.

    Args:
        objective: module returning ``(loss, stats)`` from ``forward(batch, generator)``.
        dataset: a map-style dataset of dict samples.
        kind / arch: written into checkpoints; a resumed or loaded checkpoint must match them.
        meta: anything else worth keeping in the checkpoint (dataset meta, model configs).
        val_dataset: optional held-out data for ``val_every``.
    """

    def __init__(self, objective: nn.Module, dataset: Dataset, cfg: TrainConfig, *, kind: str,
                 arch: dict[str, Any], meta: dict[str, Any] | None = None,
                 val_dataset: Dataset | None = None):
        if cfg.steps < 1 or cfg.batch_size < 1:
            raise ValueError(f"steps and batch_size must be positive, got {cfg.steps}, "
                             f"{cfg.batch_size}")
        if cfg.threads > 0:
            torch.set_num_threads(cfg.threads)
        self.cfg, self.kind, self.arch, self.meta = cfg, kind, arch, meta or {}
        self.device = resolve_device(cfg.device)
        self.autocast = lambda: autocast_context(self.device, cfg.precision)
        self.dist: DistInfo = init_distributed(self.device)
        if self.device.type == "cuda" and self.dist.enabled and cfg.device == "auto":
            self.device = torch.device("cuda", self.dist.local_rank)
        self.objective = objective.to(self.device)
        self._broadcast_initial_state()
        self.dataset, self.val_dataset = dataset, val_dataset
        self.optimizer = make_optimizer(self.objective, cfg.lr, cfg.weight_decay,
                                        (cfg.beta1, cfg.beta2))
        self.step = 0
        self.out = Path(cfg.out)
        self.model = self.objective
        if self.dist.enabled:
            from torch.nn.parallel import DistributedDataParallel as DDP
            ids = [self.device.index] if self.device.type == "cuda" else None
            self.model = DDP(self.objective, device_ids=ids)
        if cfg.compile and self.device.type == "cuda":
            self.model = torch.compile(self.model)

    # ------------------------------------------------------------------ state
    def _broadcast_initial_state(self) -> None:
        if not self.dist.enabled:
            return
        import torch.distributed as dist
        for tensor in self.objective.state_dict().values():
            dist.broadcast(tensor, src=0)

    def state(self) -> dict[str, Any]:
        return {"kind": self.kind, "arch": self.arch, "meta": self.meta, "step": self.step,
                "model": self.objective.state_dict(), "optimizer": self.optimizer.state_dict(),
                "config": dataclasses.asdict(self.cfg)}

    def save(self) -> Path:
        path = self.out / CHECKPOINT_NAME
        if self.dist.is_main:
            save_checkpoint(path, self.state())
        barrier(self.dist)
        return path

    def try_resume(self) -> bool:
        path = self.out / CHECKPOINT_NAME
        if not (self.cfg.resume and path.is_file()):
            return False
        ckpt = load_checkpoint(path, kind=self.kind, arch=self.arch)
        self.objective.load_state_dict(ckpt["model"])
        self.optimizer.load_state_dict(ckpt["optimizer"])
        self.step = int(ckpt["step"])
        return True

    # ------------------------------------------------------------------ loop
    def _lr_scale(self, step: int) -> float:
        c = self.cfg
        return warmup_constant_cooldown(step, c.steps, c.warmup, c.cooldown, c.final_lr_ratio)

    def _loader(self, dataset: Dataset, start: int, stop: int, seed: int) -> DataLoader:
        sampler = StepBatchSampler(len(dataset), self.cfg.batch_size, seed, start, stop,
                                   self.dist.rank, self.dist.world_size)
        return DataLoader(dataset, batch_sampler=sampler, num_workers=self.cfg.num_workers,
                          pin_memory=self.device.type == "cuda",
                          persistent_workers=False)

    def _generator(self, step: int, stream: int = 1) -> torch.Generator:
        return torch.Generator(device="cpu").manual_seed(
            step_seed(self.cfg.seed, step, self.dist.rank, stream=stream))

    def _should_stop(self, started: float) -> bool:
        if self.cfg.stop_at and self.step >= self.cfg.stop_at:
            return True
        if self.cfg.max_minutes <= 0:
            return False
        over = float((time.perf_counter() - started) / 60.0 >= self.cfg.max_minutes)
        return all_mean(over, self.dist) > 0  # every rank stops at the same step

    @torch.no_grad()
    def validate(self) -> dict[str, float]:
        """Mean loss and stats over ``val_batches`` fixed batches of the validation set."""
        self.objective.eval()
        sums: dict[str, float] = {}
        loader = self._loader(self.val_dataset, 0, self.cfg.val_batches, self.cfg.seed + 1)
        for i, batch in enumerate(loader):
            with self.autocast():
                loss, stats = self.objective(_to_device(batch, self.device), self._generator(i, stream=2))
            for k, v in {"loss": float(loss), **stats}.items():
                sums[k] = sums.get(k, 0.0) + float(v) / self.cfg.val_batches
        self.objective.train()
        return {f"val_{k}": all_mean(v, self.dist) for k, v in sums.items()}

    def fit(self) -> dict[str, Any]:
        """Train to ``cfg.steps`` (resuming from ``out/checkpoint.pt`` if present)."""
        cfg = self.cfg
        self.out.mkdir(parents=True, exist_ok=True)
        resumed = self.try_resume()
        if self.dist.is_main:
            write_json_atomic(self.out / "train_config.json", dataclasses.asdict(cfg))
        logger = CSVLogger(self.out / "log.csv", resume_step=self.step,
                           tensorboard=cfg.tensorboard) if self.dist.is_main else None
        start_step, started = self.step, time.perf_counter()
        bar = tqdm(total=cfg.steps, initial=self.step, desc=f"train {self.kind}", unit="step",
                   disable=not (cfg.progress and self.dist.is_main), dynamic_ncols=True)
        self.objective.train()
        last, t_prev, rate = {}, time.perf_counter(), 0.0
        stopped_early = False
        for batch in self._loader(self.dataset, self.step, cfg.steps, cfg.seed):
            step = self.step
            for group in self.optimizer.param_groups:
                group["lr"] = cfg.lr * self._lr_scale(step)
            with self.autocast():
                loss, stats = self.model(_to_device(batch, self.device), self._generator(step))
            if not torch.isfinite(loss):
                raise FloatingPointError(f"loss is {float(loss)} at step {step}; lower lr?")
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            grad_norm = nn.utils.clip_grad_norm_(
                [p for p in self.objective.parameters() if p.requires_grad],
                cfg.grad_clip if cfg.grad_clip > 0 else math.inf)
            self.optimizer.step()
            if hasattr(self.objective, "on_step_end"):
                self.objective.on_step_end(step, cfg.steps)
            self.step = step + 1
            now = time.perf_counter()
            clips = cfg.batch_size * self.dist.world_size / max(now - t_prev, 1e-9)
            rate = clips if rate == 0 else 0.9 * rate + 0.1 * clips
            t_prev = now
            bar.update(1)
            loss = loss.detach()
            bar.set_postfix(loss=f"{float(loss):.4f}", clips_s=f"{rate:.0f}")
            if self.step % cfg.log_every == 0 or self.step == cfg.steps:
                row = {"loss": float(loss), "lr": self.optimizer.param_groups[0]["lr"],
                       "grad_norm": float(grad_norm), "clips_per_s": rate,
                       **{k: float(v) for k, v in stats.items()}}
                row = {k: all_mean(v, self.dist) for k, v in row.items()}
                if cfg.val_every and self.val_dataset is not None and \
                        self.step % cfg.val_every == 0:
                    row.update(self.validate())
                last = row
                if logger:
                    logger.log(self.step, row)
            if self.step % cfg.ckpt_every == 0 or self.step == cfg.steps:
                self.save()
            if self._should_stop(started):
                stopped_early = self.step < cfg.steps
                self.save()
                break
        bar.close()
        identical = ranks_identical(self.objective, self.dist)
        if not identical:
            raise RuntimeError("data-parallel ranks ended with different weights")
        summary = {"steps": self.step, "resumed_from": start_step if resumed else None,
                   "world_size": self.dist.world_size, "ranks_identical": identical,
                   "wall_s": time.perf_counter() - started, "stopped_early": stopped_early,
                   "last": last, "checkpoint": str(self.out / CHECKPOINT_NAME)}
        if self.dist.is_main:
            write_json_atomic(self.out / "train_summary.json", summary)
        return summary

    def close(self) -> None:
        shutdown(self.dist)

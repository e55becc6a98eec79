"""Metrics to CSV (one row per logged step; TensorBoard too when installed and asked for)."""
from __future__ import annotations

import csv
import io
from pathlib import Path

from worldmodel.data.storage import write_text_atomic


class CSVLogger:
    """Appends rows to ``path``; on resume, rows after ``resume_step`` are dropped first so that
    the log of a resumed run reads like that of an uninterrupted one."""

    def __init__(self, path: str | Path, resume_step: int = 0, tensorboard: bool = False):
        self.path = Path(path)
        self.rows: list[dict] = []
        if self.path.exists() and resume_step > 0:
            with open(self.path, newline="") as f:
                self.rows = [r for r in csv.DictReader(f) if int(r["step"]) <= resume_step]
        self._tb = None
        if tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter
                self._tb = SummaryWriter(str(self.path.parent / "tb"))
            except ImportError:
                print("tensorboard is not installed; logging to CSV only")
        self._write()

    def _write(self) -> None:
        keys: list[str] = []
        for row in self.rows:
            keys += [k for k in row if k not in keys]
        buffer = io.StringIO(newline="")
        writer = csv.DictWriter(buffer, fieldnames=keys or ["step"])
        writer.writeheader()
        writer.writerows(self.rows)
        write_text_atomic(self.path, buffer.getvalue())

    def log(self, step: int, metrics: dict[str, float]) -> None:
        self.rows.append({"step": step, **{k: f"{v:.6g}" for k, v in metrics.items()}})
        self._write()
        if self._tb is not None:
            for k, v in metrics.items():
                self._tb.add_scalar(k, v, step)

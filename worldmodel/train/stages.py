"""What a multi-stage pipeline (``wm demo``, ``wm bench``) records of its stages, so a second run
reuses what is still valid, resumes what was interrupted and redoes what changed.

``<out>/stages.json`` maps each stage's key to the settings ("spec") it last ran with. A stage
whose output is finished and whose spec is unchanged is reused; one begun with the same spec
resumes (its output is kept: training picks up its last checkpoint); one with another spec, or
marked stale by the caller, has its output removed and starts afresh.
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from worldmodel.data.storage import write_json_atomic

__all__ = ["StageRecord", "normalised"]


def normalised(spec: Any) -> Any:
    """``spec`` as it reads back from JSON (tuples as lists, paths as strings)."""
    return json.loads(json.dumps(spec, default=str))


class StageRecord:
    """The stage specs of the pipeline writing to ``out`` (``out/stages.json``)."""

    def __init__(self, out: str | Path):
        self.path = Path(out) / "stages.json"

    def recorded(self, key: str) -> Any:
        """The spec stage ``key`` last ran with (None if it never did)."""
        return json.loads(self.path.read_text()).get(key) if self.path.is_file() else None

    def record(self, key: str, spec: Any) -> None:
        stages = json.loads(self.path.read_text()) if self.path.is_file() else {}
        stages[key] = normalised(spec)
        write_json_atomic(self.path, stages)

    def is_current(self, key: str, output: Path, spec: Any) -> bool:
        """Whether stage ``key`` wrote ``output`` with exactly ``spec``."""
        return output.exists() and self.recorded(key) == normalised(spec)

    def prepare(self, key: str, output: Path, spec: Any, finished: bool,
                stale: bool = False) -> bool:
        """Whether stage ``key`` must run. False: ``finished`` with the same ``spec``, reuse it.
        True: the spec is recorded first (an interrupted run resumes on the next call), and
        ``output`` is removed when the spec differs or the caller says it is ``stale``."""
        same = not stale and self.recorded(key) == normalised(spec)
        if same and finished:
            return False
        if not same and output.exists():
            shutil.rmtree(output)
        self.record(key, spec)
        return True

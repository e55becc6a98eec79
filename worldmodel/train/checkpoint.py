"""Checkpoints: atomic writes, and a clear refusal of a checkpoint of another model."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

CHECKPOINT_VERSION = 1


class CheckpointError(ValueError):
    """A checkpoint that is missing, damaged, or of another kind or architecture."""


def save_checkpoint(path: str | Path, payload: dict[str, Any]) -> None:
    """``torch.save`` to a temporary file, then rename: a crash never leaves half a checkpoint."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        torch.save({"version": CHECKPOINT_VERSION, **payload}, tmp)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def load_checkpoint(path: str | Path, *, kind: str | None = None,
                    arch: dict[str, Any] | None = None) -> dict[str, Any]:
    """Load a checkpoint, checking its ``kind`` (e.g. ``"vjepa"``) and architecture."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {str(path)!r} does not exist")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as err:  # noqa: BLE001  (pickle/zip errors of all kinds)
        raise CheckpointError(f"{path} is not a readable checkpoint: {err}") from err
    if not isinstance(ckpt, dict) or ckpt.get("version") != CHECKPOINT_VERSION:
        raise CheckpointError(f"{path} is not a jepa-mpc checkpoint (version "
                              f"{ckpt.get('version') if isinstance(ckpt, dict) else None!r})")
    if kind is not None and ckpt.get("kind") != kind:
        raise CheckpointError(f"{path} holds a {ckpt.get('kind')!r} model, not a {kind!r} one")
    if arch is not None:
        diff = _differences(ckpt.get("arch", {}), arch)
        if diff:
            detail = ", ".join(f"{k}={a!r} in the checkpoint vs {b!r} here"
                               for k, (a, b) in diff.items())
            raise CheckpointError(f"{path} was trained with another architecture: {detail}")
    return ckpt


def submodule_state(ckpt: dict[str, Any], prefix: str) -> dict[str, torch.Tensor]:
    """The weights of one submodule of a checkpoint's model (the objective's ``prefix.*`` keys,
    e.g. ``"net"``), with the prefix stripped, ready for ``load_state_dict``."""
    start = f"{prefix}."
    return {k[len(start):]: v for k, v in ckpt["model"].items() if k.startswith(start)}


def _differences(saved: dict, wanted: dict, prefix: str = "") -> dict[str, tuple[Any, Any]]:
    """Leaf-level differences between two nested dicts, keyed by dotted path."""
    out: dict[str, tuple[Any, Any]] = {}
    for key in wanted:
        a, b = saved.get(key), wanted[key]
        if isinstance(a, dict) and isinstance(b, dict):
            out.update(_differences(a, b, f"{prefix}{key}."))
        elif a != b:
            out[f"{prefix}{key}"] = (a, b)
    return out

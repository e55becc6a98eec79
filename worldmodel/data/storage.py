"""On-disk episode format: one file per episode plus ``meta.json``; atomic writes, memory-mapped reads.

An episode file (``ep_000042.wmep``) is::

    b"WMEP" | uint32 format version | uint32 header length | JSON header | padding | arrays

The JSON header maps each array name to its dtype, shape and byte offset (64-byte aligned), so a
reader maps the file once and takes zero-copy views: a dataset larger than RAM streams from disk.
Every file is written to a temporary name in the same directory and renamed into place, so a crash
leaves either a whole episode or no episode, never half of one.
"""
from __future__ import annotations

import dataclasses
import json
import mmap
import os
import struct
from collections import OrderedDict
from pathlib import Path
from typing import Any

import numpy as np

FORMAT_VERSION = 1
MAGIC = b"WMEP"
EPISODE_SUFFIX = ".wmep"
META_FILE = "meta.json"
_ALIGN = 64
#: arrays every episode holds, with their dtypes; time lengths are T+1, T, T+1, T+1
EPISODE_ARRAYS = {"pixels": np.uint8, "actions": np.float32, "proprio": np.float32, "state": np.float64}


class DatasetError(ValueError):
    """A dataset directory that is missing, foreign, damaged or does not match what was asked."""


@dataclasses.dataclass
class DatasetMeta:
    """What ``meta.json`` records about a dataset."""

    task: str
    env: dict[str, Any]
    image_size: int
    action_repeat: int
    action_dim: int
    proprio_dim: int
    state_dim: int
    steps: int
    episodes: int
    policy: dict[str, Any]
    seed: int
    action_low: float = -1.0
    action_high: float = 1.0
    format_version: int = FORMAT_VERSION

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def episode_path(data_dir: str | Path, index: int) -> Path:
    return Path(data_dir) / f"ep_{index:06d}{EPISODE_SUFFIX}"


def _atomic_write_bytes(path: Path, chunks) -> None:
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        with open(tmp, "wb") as f:
            for chunk in chunks:
                f.write(chunk)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def write_text_atomic(path: str | Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file and a rename."""
    _atomic_write_bytes(Path(path), [text.encode()])


def write_json_atomic(path: str | Path, obj: Any) -> None:
    """Write ``obj`` as JSON to ``path`` through a temporary file and a rename."""
    write_text_atomic(path, json.dumps(obj, indent=2, sort_keys=True))


def write_episode(path: str | Path, arrays: dict[str, np.ndarray]) -> None:
    """Write one episode atomically. ``arrays`` must hold :data:`EPISODE_ARRAYS`."""
    missing = set(EPISODE_ARRAYS) - set(arrays)
    if missing:
        raise ValueError(f"episode is missing arrays: {sorted(missing)}")
    arrays = {k: np.ascontiguousarray(v, dtype=EPISODE_ARRAYS.get(k, np.asarray(v).dtype))
              for k, v in arrays.items()}
    t = arrays["actions"].shape[0]
    for name in ("pixels", "proprio", "state"):
        if arrays[name].shape[0] != t + 1:
            raise ValueError(f"{name} must have T+1={t + 1} entries, got {arrays[name].shape[0]}")
    entries, offset = {}, 0
    for name, arr in arrays.items():
        entries[name] = {"dtype": arr.dtype.str, "shape": list(arr.shape), "offset": offset}
        offset += -(-arr.nbytes // _ALIGN) * _ALIGN
    header = json.dumps(entries).encode()
    start = -(-(len(MAGIC) + 8 + len(header)) // _ALIGN) * _ALIGN
    prefix = MAGIC + struct.pack("<II", FORMAT_VERSION, len(header)) + header
    chunks = [prefix, b"\0" * (start - len(prefix))]
    for name, arr in arrays.items():
        chunks.append(arr.tobytes())
        chunks.append(b"\0" * (-arr.nbytes % _ALIGN))
    _atomic_write_bytes(Path(path), chunks)


def read_episode(path: str | Path) -> dict[str, np.ndarray]:
    """Memory-map an episode file and return read-only array views into it."""
    path = Path(path)
    with open(path, "rb") as f:
        try:
            buf = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
        except ValueError as err:  # empty file
            raise DatasetError(f"{path} is empty or damaged") from err
    if buf[:4] != MAGIC:
        raise DatasetError(f"{path} is not a jepa-mpc episode file")
    version, hlen = struct.unpack("<II", buf[4:12])
    if version != FORMAT_VERSION:
        raise DatasetError(f"{path} has format version {version}; this code reads {FORMAT_VERSION}")
    entries = json.loads(bytes(buf[12:12 + hlen]))
    start = -(-(12 + hlen) // _ALIGN) * _ALIGN
    out = {}
    for name, e in entries.items():
        dtype = np.dtype(e["dtype"])
        count = int(np.prod(e["shape"]))
        out[name] = np.frombuffer(buf, dtype=dtype, count=count,
                                  offset=start + e["offset"]).reshape(e["shape"])
    return out


def load_meta(data_dir: str | Path) -> DatasetMeta:
    """Read and validate ``meta.json``; raise :class:`DatasetError` with a clear message otherwise."""
    data_dir = Path(data_dir)
    if not data_dir.is_dir():
        raise DatasetError(f"dataset directory {str(data_dir)!r} does not exist "
                           f"(create one with: wm collect env=reach out={data_dir})")
    meta_path = data_dir / META_FILE
    if not meta_path.is_file():
        raise DatasetError(f"{str(data_dir)!r} is not a jepa-mpc dataset: it has no {META_FILE}")
    try:
        raw = json.loads(meta_path.read_text())
    except json.JSONDecodeError as err:
        raise DatasetError(f"{meta_path} is not valid JSON: {err}") from err
    if raw.get("format_version") != FORMAT_VERSION:
        raise DatasetError(f"{meta_path}: format version {raw.get('format_version')!r} is not "
                           f"{FORMAT_VERSION}, the one this code reads")
    names = {f.name for f in dataclasses.fields(DatasetMeta)}
    missing = names - set(raw) - {"action_low", "action_high", "format_version"}
    if missing:
        raise DatasetError(f"{meta_path} lacks fields {sorted(missing)}")
    return DatasetMeta(**{k: v for k, v in raw.items() if k in names})


def check_meta(meta: DatasetMeta, data_dir: str | Path, *, task: str | None = None,
               image_size: int | None = None) -> None:
    """Refuse a dataset of another task or resolution than the one asked for."""
    if task is not None and meta.task != task:
        raise DatasetError(f"dataset {str(data_dir)!r} holds env={meta.task!r}, not env={task!r}")
    if image_size is not None and meta.image_size != image_size:
        raise DatasetError(f"dataset {str(data_dir)!r} has {meta.image_size}x{meta.image_size} "
                           f"frames, not the {image_size}x{image_size} asked for")


def list_episodes(data_dir: str | Path) -> list[Path]:
    """Whole episode files in ``data_dir``, in index order (temporary files are ignored)."""
    return sorted(Path(data_dir).glob(f"ep_*{EPISODE_SUFFIX}"))


class EpisodeStore:
    """Read access to a dataset directory: ``meta``, ``len()``, and ``store[i]`` -> array views.

    Keeps at most ``max_open`` episode files mapped at once (least recently used are dropped), so
    datasets with thousands of episodes do not exhaust file handles.
    """

    def __init__(self, data_dir: str | Path, *, task: str | None = None,
                 image_size: int | None = None, max_open: int = 256):
        self.data_dir = Path(data_dir)
        self.meta = load_meta(self.data_dir)
        check_meta(self.meta, self.data_dir, task=task, image_size=image_size)
        self.paths = list_episodes(self.data_dir)
        if not self.paths:
            raise DatasetError(f"dataset {str(self.data_dir)!r} holds no episodes yet")
        self.lengths = [self.meta.steps] * len(self.paths)
        self._open: OrderedDict[int, dict[str, np.ndarray]] = OrderedDict()
        self._max_open = max_open

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> dict[str, np.ndarray]:
        if index in self._open:
            self._open.move_to_end(index)
            return self._open[index]
        episode = read_episode(self.paths[index])
        if episode["actions"].shape[0] != self.meta.steps:
            raise DatasetError(f"{self.paths[index]} has {episode['actions'].shape[0]} steps; "
                               f"meta.json says {self.meta.steps}")
        self._open[index] = episode
        if len(self._open) > self._max_open:
            self._open.popitem(last=False)
        return episode

    def __getstate__(self):  # DataLoader workers re-map files themselves
        state = self.__dict__.copy()
        state["_open"] = OrderedDict()
        return state

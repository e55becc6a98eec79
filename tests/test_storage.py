"""Episode files: round trip, memory-mapped reads, atomic writes, meta validation."""
import json

import numpy as np
import pytest

from worldmodel.data import storage
from worldmodel.data.storage import (DatasetError, EpisodeStore, load_meta, read_episode,
                                     write_episode)


def fake_episode(t=5, size=8, seed=0):
    rng = np.random.default_rng(seed)
    return {"pixels": rng.integers(0, 256, (t + 1, size, size, 3), dtype=np.uint8),
            "actions": rng.uniform(-1, 1, (t, 2)).astype(np.float32),
            "proprio": rng.normal(size=(t + 1, 4)).astype(np.float32),
            "state": rng.normal(size=(t + 1, 4))}


def test_round_trip_is_exact_and_memory_mapped(tmp_path):
    ep = fake_episode()
    write_episode(tmp_path / "ep_000000.wmep", ep)
    back = read_episode(tmp_path / "ep_000000.wmep")
    for name, arr in ep.items():
        assert back[name].dtype == arr.dtype and np.array_equal(back[name], arr)
        assert not back[name].flags.writeable  # a read-only view into the mapped file
        assert not back[name].flags.owndata


def test_inconsistent_lengths_are_refused_before_anything_is_written(tmp_path):
    ep = fake_episode()
    ep["pixels"] = ep["pixels"][:-1]
    with pytest.raises(ValueError, match="T\\+1"):
        write_episode(tmp_path / "ep.wmep", ep)
    assert list(tmp_path.iterdir()) == []


def test_interrupted_write_leaves_no_file(tmp_path, monkeypatch):
    def crash(src, dst):
        raise KeyboardInterrupt

    monkeypatch.setattr(storage.os, "replace", crash)
    with pytest.raises(KeyboardInterrupt):
        write_episode(tmp_path / "ep_000000.wmep", fake_episode())
    assert list(tmp_path.iterdir()) == []


def test_foreign_or_damaged_files_give_clear_errors(tmp_path):
    (tmp_path / "junk.wmep").write_bytes(b"hello world, not an episode")
    with pytest.raises(DatasetError, match="not a jepa-mpc episode"):
        read_episode(tmp_path / "junk.wmep")
    (tmp_path / "empty.wmep").write_bytes(b"")
    with pytest.raises(DatasetError, match="empty"):
        read_episode(tmp_path / "empty.wmep")


def test_meta_errors_name_the_problem(tmp_path):
    with pytest.raises(DatasetError, match="does not exist"):
        load_meta(tmp_path / "missing")
    with pytest.raises(DatasetError, match="no meta.json"):
        load_meta(tmp_path)
    (tmp_path / "meta.json").write_text(json.dumps({"format_version": 99}))
    with pytest.raises(DatasetError, match="format version 99"):
        load_meta(tmp_path)


def test_store_refuses_another_task_or_resolution(reach_data):
    store = EpisodeStore(reach_data)
    assert len(store) == 6 and store.meta.task == "reach" and store.meta.image_size == 32
    with pytest.raises(DatasetError, match="env='reach', not env='push'"):
        EpisodeStore(reach_data, task="push")
    with pytest.raises(DatasetError, match="32x32 frames, not the 64x64"):
        EpisodeStore(reach_data, image_size=64)


def test_store_bounds_the_number_of_open_files(reach_data):
    store = EpisodeStore(reach_data, max_open=2)
    for i in range(len(store)):
        assert store[i]["actions"].shape == (12, 2)
    assert len(store._open) == 2

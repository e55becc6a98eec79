"""``collect``: seeded episodes, parallel workers, resume after interruption, bad input."""
import numpy as np
import pytest

from conftest import small_collect
from envs import collect as collect_mod
from envs.collect import collect
from envs.seeding import episode_seed
from worldmodel.data import storage
from worldmodel.data.storage import DatasetError, EpisodeStore, list_episodes


def episode_bytes(out):
    return [p.read_bytes() for p in list_episodes(out)]


def test_collected_episodes_are_complete_and_match_the_meta(reach_data):
    store = EpisodeStore(reach_data)
    meta = store.meta
    assert (meta.task, meta.steps, meta.action_dim, meta.proprio_dim) == ("reach", 12, 2, 6)
    for i in range(len(store)):
        ep = store[i]
        assert ep["pixels"].shape == (13, 32, 32, 3)
        assert ep["actions"].shape == (12, 2) and np.abs(ep["actions"]).max() <= 1
        assert ep["proprio"].shape == (13, 6) and ep["state"].shape == (13, 4)
    # exploration moves the arm
    assert np.abs(np.diff(store[0]["state"][:, 0])).sum() > 0.5


def test_parallel_collection_equals_serial(tmp_path, reach_data):
    collect(small_collect(tmp_path / "par", workers=2))
    assert episode_bytes(tmp_path / "par") == episode_bytes(reach_data)


def test_interrupted_collection_keeps_whole_episodes_and_resumes_to_the_same_data(
        tmp_path, reach_data, monkeypatch):
    out = tmp_path / "interrupted"
    real_replace, calls = storage.os.replace, []

    def replace_then_die(src, dst):
        calls.append(dst)
        if len(calls) == 4:  # the 3rd episode (after meta.json) is being renamed into place
            raise KeyboardInterrupt
        return real_replace(src, dst)

    monkeypatch.setattr(storage.os, "replace", replace_then_die)
    with pytest.raises(KeyboardInterrupt):
        collect(small_collect(out))
    monkeypatch.setattr(storage.os, "replace", real_replace)
    names = sorted(p.name for p in out.iterdir())
    assert names == ["ep_000000.wmep", "ep_000001.wmep", "meta.json"]  # nothing half-written
    (out / ".ep_000002.wmep.tmp-999").write_bytes(b"left by a killed process")
    collect(small_collect(out))
    assert episode_bytes(out) == episode_bytes(reach_data)
    assert not list(out.glob(".*tmp*"))


def test_resume_collects_only_missing_episodes(tmp_path, monkeypatch):
    out = tmp_path / "grow"
    collect(small_collect(out, episodes=2))
    done = []
    monkeypatch.setattr(collect_mod._Worker, "collect_one",
                        classmethod(lambda cls, i: done.append(i) or i))
    collect(small_collect(out, episodes=4))
    assert done == [2, 3]


def test_collection_into_a_different_dataset_is_refused_untouched(tmp_path, reach_data):
    before = sorted(p.name for p in reach_data.iterdir())
    with pytest.raises(DatasetError, match="already holds a different dataset.*steps"):
        collect(small_collect(reach_data, steps=20))
    with pytest.raises(DatasetError, match="env"):
        collect(small_collect(reach_data, env={"name": "pointmaze", "image_size": 32}))
    assert sorted(p.name for p in reach_data.iterdir()) == before
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("mine")
    with pytest.raises(DatasetError, match="not a jepa-mpc dataset"):
        collect(small_collect(foreign))
    assert [p.name for p in foreign.iterdir()] == ["notes.txt"]


def test_bad_policy_and_sizes_are_refused(tmp_path):
    with pytest.raises(ValueError, match="unknown policy"):
        collect(small_collect(tmp_path / "a", policy={"name": "greedy"}))
    with pytest.raises(ValueError, match="only for env=push"):
        collect(small_collect(tmp_path / "b", policy={"name": "scripted"}))
    with pytest.raises(ValueError, match="positive"):
        collect(small_collect(tmp_path / "c", episodes=0))
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


def test_collection_and_evaluation_seeds_are_disjoint():
    collect_seeds = {episode_seed(0, i, "collect") for i in range(5000)}
    eval_seeds = {episode_seed(0, i, "eval") for i in range(5000)}
    assert len(collect_seeds) == 5000 and not collect_seeds & eval_seeds
    with pytest.raises(ValueError, match="unknown seed stream"):
        episode_seed(0, 0, "test")


def test_preview_video_is_written(tmp_path):
    import imageio.v2 as imageio

    out = collect(small_collect(tmp_path / "prev", episodes=3, preview=3))
    frames = imageio.mimread(out / "preview.mp4")
    assert len(frames) == 13
    assert frames[0].shape[1] > 3 * 32  # three episodes side by side

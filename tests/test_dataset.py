"""Clip datasets: clip contents, action chunking, passive mode, split by episode, bad input."""
import numpy as np
import pytest
import torch

from worldmodel.data.dataset import ClipDataset, split_episodes
from worldmodel.data.storage import DatasetError, EpisodeStore


def test_clips_hold_the_right_frames_actions_and_proprio(reach_data):
    ds = ClipDataset(reach_data, num_frames=3, stride=2, split="all")
    store = EpisodeStore(reach_data)
    assert len(ds) == 6 * (12 - 4 + 1)
    item = ds[10]
    ep, t = int(item["episode"]), int(item["t"])
    raw = store[ep]
    assert item["frames"].shape == (3, 3, 32, 32) and item["frames"].dtype == torch.uint8
    assert torch.equal(item["frames"][1].permute(1, 2, 0), torch.from_numpy(np.array(raw["pixels"][t + 2])))
    # the two actions between sampled frames are concatenated (action chunking)
    assert item["actions"].shape == (2, 4)
    assert np.allclose(item["actions"][1].numpy(), raw["actions"][t + 2: t + 4].reshape(-1))
    assert np.allclose(item["proprio"][2].numpy(), raw["proprio"][t + 4])
    assert item["state"].shape == (3, 4)


def test_passive_mode_yields_frames_and_source_only_and_mixes_datasets(reach_data, tmp_path):
    from conftest import small_collect
    from envs.collect import collect

    other = collect(small_collect(tmp_path / "maze", env={"name": "pointmaze", "image_size": 32}))
    ds = ClipDataset([reach_data, other], num_frames=2, passive=True, split="all")
    assert set(ds[0]) == {"frames", "source"} and set(ds[len(ds) - 1]) == {"frames", "source"}
    assert int(ds[0]["source"]) == 0 and int(ds[len(ds) - 1]["source"]) == 1
    assert len(ds) == 2 * 6 * 12
    with pytest.raises(DatasetError, match="only passive"):
        ClipDataset([reach_data, other], num_frames=2)


def test_train_and_val_split_by_episode(reach_data):
    train = ClipDataset(reach_data, num_frames=2, split="train", val_fraction=0.34)
    val = ClipDataset(reach_data, num_frames=2, split="val", val_fraction=0.34)
    train_eps = {int(e) for _, e, _ in train.index}
    val_eps = {int(e) for _, e, _ in val.index}
    assert len(val_eps) == 3 and len(train_eps) == 3 and not train_eps & val_eps
    tr, va = split_episodes(100, 0.1, seed=1)
    assert len(va) == 10 and len(np.union1d(tr, va)) == 100
    assert np.array_equal(va, split_episodes(100, 0.1, seed=1)[1])


def test_loader_batches(reach_data):
    loader = torch.utils.data.DataLoader(ClipDataset(reach_data, num_frames=4), batch_size=5,
                                         shuffle=True, num_workers=1)
    batch = next(iter(loader))
    assert batch["frames"].shape == (5, 4, 3, 32, 32) and batch["actions"].shape == (5, 3, 2)


def test_bad_requests_give_clear_errors(reach_data, tmp_path):
    with pytest.raises(DatasetError, match="longer than the 12-step episodes"):
        ClipDataset(reach_data, num_frames=8, stride=2)
    with pytest.raises(DatasetError, match="does not exist"):
        ClipDataset(tmp_path / "nowhere")
    with pytest.raises(DatasetError, match="not env='push'"):
        ClipDataset(reach_data, task="push")
    with pytest.raises(ValueError, match="split"):
        ClipDataset(reach_data, split="test")

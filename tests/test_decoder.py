"""The latent decoder (visualisation only): training, loading, attaching, clear errors."""
from __future__ import annotations

import shutil

import pytest
import torch

from conftest import TINY_ENCODER, small_collect
from envs.collect import collect
from worldmodel.ac_train import ACTrainConfig, train_world_model
from worldmodel.data.storage import EpisodeStore
from worldmodel.decoder import DecoderConfig, LatentDecoder, load_decoder, train_decoder
from worldmodel.train import TrainConfig
from worldmodel.train.checkpoint import CheckpointError, load_checkpoint
from worldmodel.world_model import load_world_model


def _train(steps: int, **overrides) -> TrainConfig:
    cfg = dict(steps=steps, batch_size=16, lr=3e-3, warmup=2, cooldown=5, log_every=5,
               ckpt_every=1000, progress=False, device="cpu")
    return TrainConfig(**{**cfg, **overrides})


def _decoder_cfg(world_model, data, steps: int = 60, **overrides) -> DecoderConfig:
    cfg = dict(world_model=str(world_model), data_dir=str(data), channels=16, cache=False,
               progress=False, train=_train(steps, lr=1e-2, warmup=5, cooldown=10))
    return DecoderConfig(**{**cfg, **overrides})


@pytest.fixture(scope="module")
def world_model(reach_data, tmp_path_factory):
    """A world model briefly trained on the 32x32 Reach data (random tiny encoder)."""
    out = tmp_path_factory.mktemp("wm_for_decoder")
    train_world_model(ACTrainConfig(
        data_dir=str(reach_data), out=str(out), encoder="random", random_encoder=TINY_ENCODER,
        pool=2, projection=32, num_frames=3, predictor={"dim": 32, "depth": 1, "heads": 2},
        progress=False, train=_train(6)))
    return out / "checkpoint.pt"


def _net_state(path) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in load_checkpoint(path)["model"].items()}


def test_world_model_without_a_decoder_cannot_decode(world_model, tmp_path):
    shutil.copy(world_model, tmp_path / "checkpoint.pt")  # a folder without decoder/
    model = load_world_model(tmp_path / "checkpoint.pt", device="cpu")
    assert not hasattr(model, "decode") and model.decoder is None


def test_decoder_training_lowers_mse_and_load_world_model_attaches_it(world_model, reach_data):
    before = _net_state(world_model)
    summary = train_decoder(_decoder_cfg(world_model, reach_data))
    out = world_model.parent / "decoder"
    assert summary["steps"] == 60 and (out / "checkpoint.pt").is_file()
    rows = [r.split(",") for r in (out / "log.csv").read_text().splitlines()]
    col = rows[0].index("mse")
    assert float(rows[-1][col]) < 0.7 * float(rows[1][col])
    # the world model (encoder, predictor, projection) is untouched
    after = _net_state(world_model)
    assert before.keys() == after.keys()
    assert all(torch.equal(before[k], after[k]) for k in before)

    model = load_world_model(world_model, device="cpu", task="reach")
    assert isinstance(model.decoder, LatentDecoder) and not model.decoder.training
    ep = EpisodeStore(reach_data)[0]
    start = model.encode(ep["pixels"][:1], ep["proprio"][:1])
    pred = model.rollout(start, torch.zeros(3, 5, 2))
    frames = model.decode(pred.z[0])
    assert frames.shape == (5, 32, 32, 3) and frames.dtype.name == "uint8"
    assert model.decode(pred.z).shape == (3, 5, 32, 32, 3)
    # decoding an encoded frame gives an image close to it
    recon = model.decode(start.z[None])[0, 0].astype(float)
    assert abs(recon - ep["pixels"][0]).mean() < 30

    decoder = load_decoder(out / "checkpoint.pt")
    images = decoder(start.z)
    assert images.shape == (1, 3, 32, 32) and 0 <= images.min() and images.max() <= 1


def test_decoder_of_another_kind_is_refused(world_model):
    with pytest.raises(CheckpointError, match="'ac_world_model' model, not a 'latent_decoder'"):
        load_decoder(world_model)


def test_dataset_of_another_image_size_is_refused(world_model, tmp_path):
    data = collect(small_collect(tmp_path / "data16", env={"name": "reach", "image_size": 16},
                                 episodes=2, steps=4))
    with pytest.raises(ValueError, match="16x16 'reach'.*32x32 'reach'"):
        train_decoder(_decoder_cfg(world_model, data, out=str(tmp_path / "dec")))
    assert not (tmp_path / "dec").exists()


def test_decoder_shapes_and_grid_checks():
    dec = LatentDecoder(dim=8, grid=4, image_size=32, channels=8)
    assert dec(torch.randn(2, 16, 8)).shape == (2, 3, 32, 32)
    assert LatentDecoder(dim=8, grid=4, image_size=4)(torch.randn(1, 16, 8)).shape == (1, 3, 4, 4)
    with pytest.raises(ValueError, match="power of two"):
        LatentDecoder(dim=8, grid=4, image_size=24)
    with pytest.raises(ValueError, match=r"latents must be \[B, 16, 8\]"):
        dec(torch.randn(2, 4, 8))

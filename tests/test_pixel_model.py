"""The pixel world-model baseline: training with pixel MSE, rollouts in pixel space, the planner
protocol (every planner, one MPC episode with imagined frames), and clear errors."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from envs.reach import ReachEnv
from planners.mpc import MPCConfig, run_episode
from planners.protocol import Latent, WorldModel
from planners.registry import make_planner
from worldmodel.data.storage import DatasetError, EpisodeStore
from worldmodel.models.pixel_predictor import PixelPredictor, PixelPredictorConfig
from worldmodel.pixel_model import KIND, PixelWorldModel, PixelWorldModelNet, load_pixel_world_model
from worldmodel.pixel_train import FrameClipDataset, PixelTrainConfig, train_pixel_model
from worldmodel.train import TrainConfig
from worldmodel.train.checkpoint import CheckpointError, load_checkpoint

SMALL = PixelPredictorConfig(image_size=32, action_dim=2, channels=(8, 16, 16))


def _train_cfg(data, out, steps=60, **overrides) -> PixelTrainConfig:
    cfg = {"data_dir": str(data), "out": str(out), "channels": [8, 16, 16], "num_frames": 4,
           "progress": False,
           "train": TrainConfig(steps=steps, batch_size=16, lr=3e-3, warmup=5, cooldown=10,
                                log_every=5, ckpt_every=30, progress=False, device="cpu")}
    cfg.update(overrides)
    return PixelTrainConfig(**cfg)


@pytest.fixture(scope="module")
def trained(reach_data, tmp_path_factory):
    """A pixel world model trained for 60 steps on the 32x32 Reach data."""
    out = tmp_path_factory.mktemp("pixel_model")
    return out, train_pixel_model(_train_cfg(reach_data, out))


@pytest.fixture(scope="module")
def model(trained) -> PixelWorldModel:
    out, _ = trained
    return load_pixel_world_model(out / "checkpoint.pt", device="cpu", task="reach")


@pytest.fixture(scope="module")
def episode(reach_data):
    return EpisodeStore(reach_data)[0]


def _random_model(seed: int = 0) -> PixelWorldModel:
    torch.manual_seed(seed)
    return PixelWorldModel(PixelWorldModelNet(SMALL), {"task": "reach"})


# ------------------------------------------------------------------------------ training
def test_training_lowers_teacher_forcing_and_rollout_losses(trained):
    out, summary = trained
    rows = [r.split(",") for r in (out / "log.csv").read_text().splitlines()]
    col = {name: i for i, name in enumerate(rows[0])}
    first, last = rows[1], rows[-1]
    for name in ("tf_loss", "rollout_loss"):
        assert float(last[col[name]]) < 0.5 * float(first[col[name]]), name
    assert summary["steps"] == 60
    ckpt = load_checkpoint(out / "checkpoint.pt", kind=KIND)
    assert ckpt["meta"]["task"] == "reach" and ckpt["meta"]["image_size"] == 32
    assert ckpt["meta"]["train_episodes"] == 5 and ckpt["meta"]["stride"] == 1
    assert ckpt["arch"]["predictor"]["channels"] == [8, 16, 16]


def test_loaded_model_predicts_the_data_better_than_a_random_one(model, episode):
    frames = model.encode(episode["pixels"][:5]).z                      # [5, 3, 32, 32]
    actions = torch.from_numpy(np.array(episode["actions"][:4]))[None]  # [1, 4, 2]
    start = Latent(frames[:1])
    with torch.no_grad():
        trained_err = (model.rollout(start, actions).z[0] - frames[1:]).square().mean()
        random_err = (_random_model().rollout(start, actions).z[0] - frames[1:]).square().mean()
    assert trained_err < 0.5 * random_err


def test_dataset_items_are_uint8_clips_with_action_chunks(reach_data):
    store = EpisodeStore(reach_data)
    data = FrameClipDataset(store, np.array([2]), num_frames=3, stride=2)
    item = data[1]                                          # episode 2, start step 1
    ep = store[2]
    assert item["frames"].dtype == torch.uint8 and item["frames"].shape == (3, 3, 32, 32)
    assert np.array_equal(item["frames"][1].permute(1, 2, 0).numpy(), ep["pixels"][3])
    assert item["actions"].shape == (2, 4)                  # 2 steps of a 2-action chunk
    assert np.allclose(item["actions"][0].numpy(), np.concatenate(ep["actions"][1:3]))
    assert len(data) == 12 - 4 + 1


# ------------------------------------------------------------------------------ the model
def test_rollout_shapes_bounds_and_broadcast_start():
    model = _random_model()
    assert isinstance(model, WorldModel) and model.action_dim == 2 and model.image_size == 32
    pixels = np.random.default_rng(0).integers(0, 256, (1, 32, 32, 3), dtype=np.uint8)
    start = model.encode(pixels, np.zeros((1, 6), np.float32))     # proprio is ignored
    assert start.z.shape == (1, 3, 32, 32) and start.proprio is None
    assert torch.allclose(start.z[0, :, 4, 7] * 255, torch.from_numpy(pixels[0, 4, 7]).float())
    actions = torch.rand(4, 3, 2, generator=torch.Generator().manual_seed(0)) * 2 - 1
    with torch.no_grad():
        pred = model.rollout(start, actions)
        per_candidate = model.rollout(start.expand(4), actions)
    assert pred.z.shape == (4, 3, 3, 32, 32) and pred.proprio is None
    assert pred.z.min() >= 0 and pred.z.max() <= 1
    assert torch.allclose(pred.z, per_candidate.z, atol=1e-6)
    # with autograd on (gradient planners) the rollout is the same
    assert torch.allclose(model.rollout(start, actions).z, pred.z, atol=1e-6)
    video = model.decode(pred.z[0])
    assert video.dtype == np.uint8 and video.shape == (3, 32, 32, 3)
    assert model.decode(pred.z).shape == (4, 3, 32, 32, 3)


def test_teacher_forcing_step_is_the_first_rollout_step():
    torch.manual_seed(0)
    net = PixelPredictor(SMALL).eval()
    for block in net.blocks:                 # a non-trivial transition (it starts at identity)
        torch.nn.init.normal_(block.conv2.weight, std=0.1)
    frames, actions = torch.rand(2, 4, 3, 32, 32), torch.rand(2, 3, 2) * 2 - 1
    with torch.no_grad():
        tf = net(frames, actions)
        ro = net.rollout(frames[:, 0], actions)
    assert tf.shape == ro.shape == (2, 3, 3, 32, 32)
    assert torch.allclose(tf[:, 0], ro[:, 0], atol=1e-5)
    assert not torch.allclose(tf[:, 1:], ro[:, 1:])         # later steps: true vs own frames
    assert not torch.allclose(net.rollout(frames[:, 0], -actions), ro)   # actions matter


def test_rollout_is_differentiable_with_respect_to_actions(model, episode):
    start = model.encode(episode["pixels"][:1])
    actions = torch.zeros(3, 2, 2, requires_grad=True)
    model.rollout(start, actions).z.square().sum().backward()
    assert actions.grad is not None and actions.grad.abs().sum() > 0
    assert not any(p.requires_grad for p in model.net.parameters())


# ------------------------------------------------------------------------------ planning
@pytest.mark.parametrize("name,settings", [
    ("cem", {"samples": 8, "iterations": 2, "elites": 2}),
    ("mppi", {"samples": 8, "iterations": 2}),
    ("gradient", {"iterations": 2, "restarts": 2}),
    ("random", {}),
])
def test_every_planner_plans_in_pixel_space(model, episode, name, settings):
    planner = make_planner(name, horizon=2, **settings)
    start = model.encode(episode["pixels"][:1], episode["proprio"][:1])
    goal = model.encode(episode["pixels"][-1:])
    result = planner.plan(model, start, goal)
    assert result.actions.shape == (2, 2)
    assert np.isfinite(result.cost) or name == "random"     # random actions never roll out
    assert result.actions.min() >= -1 and result.actions.max() <= 1


def test_mpc_episode_records_imagined_frames(model):
    env = ReachEnv(image_size=32)
    try:
        planner = make_planner("cem", horizon=3, samples=8, iterations=2, elites=2)
        record = run_episode(env, model, planner, MPCConfig(steps=2, replan_every=1), seed=4)
    finally:
        env.close()
    assert record.frames.shape == (3, 32, 32, 3) and len(record.plan_ms) == 2
    assert record.imagined.shape == (3, 32, 32, 3) and record.imagined.dtype == np.uint8


# ------------------------------------------------------------------------------ errors
def test_checkpoints_of_another_kind_task_or_path_are_refused(trained, pretrain_checkpoint,
                                                               tmp_path):
    out, _ = trained
    with pytest.raises(CheckpointError, match="pixel_world_model"):
        load_pixel_world_model(pretrain_checkpoint, device="cpu")
    with pytest.raises(CheckpointError, match="not 'push'"):
        load_pixel_world_model(out / "checkpoint.pt", device="cpu", task="push")
    with pytest.raises(FileNotFoundError, match="wm train model=pixel"):
        load_pixel_world_model(tmp_path / "missing.pt")


def test_bad_inputs_give_clear_errors(reach_data, episode, tmp_path):
    model = _random_model()
    start = model.encode(episode["pixels"][:1])
    with pytest.raises(ValueError, match=r"actions must have shape \[N, H, 2\]"):
        model.rollout(start, torch.zeros(4, 3, 3))
    with pytest.raises(ValueError, match="expected 1 or 4"):
        model.rollout(start.expand(2), torch.zeros(4, 3, 2))
    with pytest.raises(ValueError, match="uint8"):
        model.encode(episode["pixels"][:1].astype(np.float32))
    with pytest.raises(ValueError, match=r"\[B, 32, 32, 3\]"):
        model.encode(episode["pixels"][:1, :16])
    with pytest.raises(ValueError, match="multiple of 8"):
        PixelPredictorConfig(image_size=36)
    with pytest.raises(ValueError, match="only 5 training episodes"):
        train_pixel_model(_train_cfg(reach_data, tmp_path, episodes=6))
    with pytest.raises(DatasetError, match="longer than the 12-step episodes"):
        train_pixel_model(_train_cfg(reach_data, tmp_path, num_frames=8, stride=2))


def test_pixel_models_on_push_step_the_tasks_frameskip(tmp_path):
    # the same action chunking as the latent models: 5 Push control steps per model step
    from conftest import small_collect
    from envs.collect import collect

    data = collect(small_collect(tmp_path / "push", env={"name": "push", "image_size": 32},
                                 policy={"name": "scripted"}, episodes=3, steps=16))
    summary = train_pixel_model(_train_cfg(data, tmp_path / "m", steps=2, num_frames=3))
    model = load_pixel_world_model(summary["checkpoint"], device="cpu")
    assert model.meta["stride"] == 5 and model.action_dim == 5 * 2

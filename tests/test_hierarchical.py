"""Hierarchical planning: subgoals, two-level MPC past a wall, the macro-action autoencoder, the
hierarchical world model's training, and clear errors."""
from __future__ import annotations

import dataclasses

import pytest
import torch

from conftest import TINY_ENCODER
from planners.protocol import Latent
from planners.registry import make_planner
from toy_world_models import ExplodingWorldModel, WalledPointModel
from worldmodel.data.storage import DatasetError
from worldmodel.hier_model import MacroActionAutoencoder
from worldmodel.hier_train import HierTrainConfig, train_hier_model
from worldmodel.train import TrainConfig
from worldmodel.train.checkpoint import CheckpointError, load_checkpoint

LEVELS = {"high": {"planner": "cem", "horizon": 3, "samples": 200, "iterations": 6,
                   "elites": 20, "cost": {"metric": "l2"}},
          "low": {"planner": "cem", "horizon": 5, "samples": 100, "iterations": 5,
                  "elites": 10, "cost": {"metric": "l2"}}}


def _point(x: float, y: float) -> Latent:
    return Latent(torch.tensor([[x, y]]))


def _mpc(model, planner, start, goal, steps):
    """Receding horizon on the toy world itself: execute one action per plan."""
    z, goal_latent = start.z, goal
    planner.reset(0)
    for _ in range(steps):
        plan = planner.plan(model, Latent(z), goal_latent)
        z = model.move(z, plan.actions[:1])
        planner.advance(1)
    return z[0]


def test_subgoal_lies_between_start_and_goal():
    model = WalledPointModel(wall=0.0)                 # free plane
    planner = make_planner("hier", **LEVELS)
    start, goal = _point(0.0, 0.0), _point(1.4, 0.0)   # 3 macro steps of at most 0.5 away
    subgoal = planner.plan_subgoal(model, start, goal).z[0]
    assert 0.3 < float(subgoal[0]) < 0.6 and abs(float(subgoal[1])) < 0.15
    straight = (goal.z[0] - start.z[0]).norm()
    via = (subgoal - start.z[0]).norm() + (goal.z[0] - subgoal).norm()
    assert float(via) < float(straight) + 0.1


def test_goal_near_hands_over_the_goal_only_once_it_is_within_a_macro_step():
    model = WalledPointModel(wall=0.0)                 # free plane; a macro step moves <= 0.5
    start = _point(0.0, 0.0)
    near, far = _point(0.3, 0.0), _point(1.4, 0.0)
    never = make_planner("hier", goal_switch=-1.0, **LEVELS)
    assert not torch.equal(never.plan_subgoal(model, start, near).z, near.z)
    assert not never.switched_to_goal
    planner = make_planner("hier", goal_switch=-1.0, goal_near=2.0, **LEVELS)
    assert not torch.equal(planner.plan_subgoal(model, start, far).z, far.z)   # 1.4 > 2 x 0.5
    assert torch.equal(planner.plan_subgoal(model, start, near).z, near.z)
    assert planner.switched_to_goal
    with pytest.raises(ValueError, match="goal_near must be >= 0"):
        make_planner("hier", goal_near=-1.0)


def test_two_level_plan_goes_around_a_wall_the_flat_planner_cannot():
    model = WalledPointModel(wall=0.4)
    start, goal = _point(-0.3, 0.0), _point(0.3, 0.0)
    flat = make_planner(LEVELS["low"]["planner"],
                        **{k: v for k, v in LEVELS["low"].items() if k != "planner"})
    flat_end = _mpc(model, flat, start, goal, steps=25)
    hier_end = _mpc(model, make_planner("hier", **LEVELS), start, goal, steps=25)
    assert float((flat_end - goal.z[0]).norm()) > 0.25   # pressed against the wall
    assert float((hier_end - goal.z[0]).norm()) < 0.1    # around it


def test_macro_autoencoder_round_trips_action_chunks():
    torch.manual_seed(0)
    k, a = 5, 2
    ae = MacroActionAutoencoder(k * a, macro_dim=4, hidden=64)
    opt = torch.optim.Adam(ae.parameters(), lr=3e-3)

    def chunks(n):  # smooth chunks: a start action ramping to an end action (4 numbers each)
        ends = torch.rand(n, 2, a) * 1.6 - 0.8
        w = torch.linspace(0, 1, k)[None, :, None]
        return ((1 - w) * ends[:, :1] + w * ends[:, 1:]).flatten(1)

    test = chunks(256)
    before = (ae.decode(ae.encode(test)) - test).abs().mean()
    for _ in range(600):
        x = chunks(128)
        loss = (ae.decode(ae.encode(x)) - x).abs().mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    after = (ae.decode(ae.encode(test)) - test).abs().mean()
    assert after < 0.05 < before
    assert ae.encode(test).abs().max() <= 1.0
    with pytest.raises(ValueError, match="10 entries"):
        ae.encode(torch.zeros(3, 6))


@pytest.fixture(scope="module")
def low_level(reach_data, tmp_path_factory):
    from worldmodel.ac_train import ACTrainConfig, train_world_model

    out = tmp_path_factory.mktemp("low")
    return train_world_model(ACTrainConfig(
        data_dir=str(reach_data), out=str(out), encoder="random", random_encoder=TINY_ENCODER,
        pool=2, projection=16, num_frames=3, predictor={"dim": 32, "depth": 2, "heads": 2},
        progress=False, train=TrainConfig(steps=30, batch_size=16, lr=3e-3, warmup=5,
                                          cooldown=5, progress=False, device="cpu")))["checkpoint"]


def _hier_cfg(low, out, **overrides):
    cfg = dict(world_model=str(low), out=str(out), k=2, macro_dim=2, macro_hidden=32,
               num_frames=3, predictor={"dim": 32, "depth": 1, "heads": 2}, progress=False,
               train=TrainConfig(steps=80, batch_size=16, lr=3e-3, warmup=5, cooldown=10,
                                 log_every=5, progress=False, device="cpu"))
    cfg.update(overrides)
    return HierTrainConfig(**cfg)


def test_hier_model_trains_and_plans(low_level, reach_data, tmp_path):
    import csv

    from envs.reach import ReachEnv
    from planners.mpc import MPCConfig, run_episode
    from worldmodel.world_model import HierWorldModel, load_world_model

    summary = train_hier_model(_hier_cfg(low_level, tmp_path / "hier"))
    meta = load_checkpoint(summary["checkpoint"])["meta"]
    assert meta["config"]["latent_loss"] == "l1"          # resolved from the low level, recorded
    rows = list(csv.DictReader(open(tmp_path / "hier" / "log.csv")))
    first, last = rows[0], rows[-1]
    assert float(last["loss"]) < 0.8 * float(first["loss"])
    assert float(last["recon_loss"]) < float(first["recon_loss"])

    model = load_world_model(summary["checkpoint"], device="cpu", task="reach")
    low = load_world_model(low_level, device="cpu")
    assert isinstance(model, HierWorldModel) and model.k == 2
    assert model.high.action_dim == 2 and model.action_dim == low.action_dim
    env = ReachEnv(image_size=32)
    obs, _ = env.reset(seed=5)
    start = model.encode(obs["pixels"][None], obs["proprio"][None])
    torch.testing.assert_close(start.z, low.encode(obs["pixels"][None]).z)  # same latent space
    macros = torch.zeros(3, 4, 2)
    assert model.high.rollout(start, macros).z.shape == (3, 4, *start.z.shape[1:])
    assert model.decode_macro(macros).shape == (3, 4, 2, 2)

    planner = make_planner("hier", high={"horizon": 2, "samples": 8, "iterations": 2,
                                         "elites": 2},
                           low={"horizon": 2, "samples": 8, "iterations": 2, "elites": 2})
    record = run_episode(env, model, planner, MPCConfig(steps=5), seed=1)
    assert len(record.plan_ms) == 5 and record.actions.shape == (5, 2)
    env.close()


def test_high_level_trains_with_the_low_levels_latent_loss_unless_told(low_level, tmp_path):
    import torch.nn.functional as F

    from worldmodel.hier_model import HierarchicalNet
    from worldmodel.hier_train import high_latent_loss, load_low_level

    low, meta = load_low_level(low_level)
    assert meta["config"]["latent_loss"] == "l1"
    assert high_latent_loss(_hier_cfg(low_level, tmp_path), meta) == "l1"
    l2_meta = {**meta, "config": {**meta["config"], "latent_loss": "l2"}}
    assert high_latent_loss(_hier_cfg(low_level, tmp_path), l2_meta) == "l2"
    assert high_latent_loss(_hier_cfg(low_level, tmp_path, latent_loss="l1"), l2_meta) == "l1"
    high_cfg = dataclasses.replace(low.predictor.cfg, action_dim=2)
    net = HierarchicalNet(low, 2, high_cfg, latent_loss="l2")
    assert net.high.latent_loss is F.mse_loss
    with pytest.raises(ValueError, match="latent_loss must be one of"):
        HierarchicalNet(low, 2, high_cfg, latent_loss="huber")


def test_bad_hier_configs_give_clear_errors(low_level, pretrain_checkpoint, tmp_path):
    with pytest.raises(DatasetError, match="k=7 with num_frames=3 needs clips of 14"):
        train_hier_model(_hier_cfg(low_level, tmp_path / "a", k=7))  # episodes: 12 steps
    with pytest.raises(ValueError, match="k must be a positive integer"):
        train_hier_model(_hier_cfg(low_level, tmp_path / "b", k=0))
    with pytest.raises(CheckpointError, match="'vjepa' model; the hierarchical"):
        train_hier_model(_hier_cfg(pretrain_checkpoint, tmp_path / "c"))
    with pytest.raises(FileNotFoundError, match="does not exist"):
        train_hier_model(_hier_cfg(tmp_path / "missing.pt", tmp_path / "d"))
    with pytest.raises(ValueError, match="subgoal_step"):
        make_planner("hier", subgoal_step=4, high={"horizon": 3})
    with pytest.raises(ValueError, match="high_every"):
        make_planner("hier", high_every=-1)
    with pytest.raises(ValueError, match="flat planners"):
        make_planner("hier", low={"planner": "hier"})
    flat_model = ExplodingWorldModel(torch.eye(2), torch.eye(2))
    with pytest.raises(ValueError, match="needs a hierarchical world model"):
        make_planner("hier").plan(flat_model, _point(0, 0), _point(1, 1))


def test_wm_train_model_hier_needs_a_low_level():
    from worldmodel.cli import main

    assert main(["train", "model=hier"]) == 2


def test_hier_yaml_builds_the_two_levels_it_lists():
    from pathlib import Path

    from omegaconf import OmegaConf

    cfg = OmegaConf.to_container(OmegaConf.load(
        Path(__file__).parent.parent / "configs" / "planner" / "hier.yaml"))
    assert cfg.pop("name") == "hier"
    planner = make_planner("hier", **cfg)
    for level in ("high", "low"):
        built = getattr(planner, level).cfg
        for key, value in cfg[level].items():
            if key == "cost":
                for k, v in value.items():
                    assert getattr(built.cost, k) == v
            elif key != "planner":
                assert getattr(built, key) == value
    assert planner.cfg.horizon == cfg["low"]["horizon"]

"""The goal-proprio readout: a goal image's proprio estimated from its latent, and the planner's
proprio cost term that uses it."""
from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import torch

from conftest import ac_train_config
from envs.registry import task_class
from planners import CostConfig, latent_cost
from planners.protocol import Latent
from worldmodel.ac_train import train_world_model
from worldmodel.goal_readout import (READOUT_PATH, check_spec, fit_readout, proprio_features)
from worldmodel.latents import LatentProjection
from worldmodel.train import TrainConfig
from worldmodel.world_model import load_world_model

REACH_SPEC = task_class("reach").goal_proprio


def _train_cfg(data, out, steps=30, **overrides):
    return ac_train_config(data, out, steps, **{"projection": 16, "goal_readout_steps": 600,
                                                **overrides})


@pytest.fixture(scope="module")
def readout_model(reach_data, tmp_path_factory):
    out = tmp_path_factory.mktemp("readout_model")
    summary = train_world_model(_train_cfg(reach_data, out))
    return out, summary


def test_every_mujoco_task_declares_a_valid_goal_proprio_spec():
    for name in ("reach", "pointmaze", "push"):
        cls = task_class(name)
        assert check_spec(cls.goal_proprio, cls.proprio_dim) == tuple(
            (k, tuple(d)) for k, d in cls.goal_proprio)


def test_reach_goal_features_are_the_shoulder_cos_sin_and_the_elbow_angle():
    q1, q2 = 2.5, -2.2
    proprio = torch.tensor([[math.cos(q1), math.sin(q1), math.cos(q2), math.sin(q2), 0.3, -0.1]])
    features = proprio_features(proprio, REACH_SPEC)
    assert torch.allclose(features, torch.tensor([[math.cos(q1), math.sin(q1), q2]]), atol=1e-6)


def test_the_elbow_distance_falls_all_the_way_along_the_joint_range():
    # from a bent-left elbow to a bent-right goal the only way is through straight (the limit is
    # in the way the other side): the angle distance falls monotonically along it, the cos/sin
    # distance first rises (it points across the joint limit)
    goal, path = 2.2, torch.linspace(-2.2, 2.2, 45)
    as_proprio = lambda q: torch.stack([torch.ones_like(q), torch.zeros_like(q), q.cos(), q.sin(),
                                        torch.zeros_like(q), torch.zeros_like(q)], -1)
    angle_dist = (proprio_features(as_proprio(path), REACH_SPEC)
                  - proprio_features(as_proprio(torch.tensor([goal])), REACH_SPEC)).abs().sum(-1)
    assert torch.all(angle_dist[1:] < angle_dist[:-1])
    cos_sin = (as_proprio(path)[:, 2:4] - as_proprio(torch.tensor([goal]))[:, 2:4]).abs().sum(-1)
    assert cos_sin[5] > cos_sin[0]


@pytest.mark.parametrize("spec, match", [((("cubic", (0,)),), "kind"),
                                         ((("angle", (0, 1, 2)),), "pair"),
                                         ((("linear", (9,)),), "lie in")])
def test_a_bad_goal_proprio_spec_is_refused(spec, match):
    with pytest.raises(ValueError, match=match):
        check_spec(spec, 6)


def test_the_readout_learns_a_known_map_and_is_reproducible():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(600, 8, generator=g)
    y = torch.stack([x[:, 0] - 2 * x[:, 1], torch.tanh(x[:, 2] * x[:, 3])], -1)
    a = fit_readout(x[:500], y[:500], steps=800, seed=1)
    b = fit_readout(x[:500], y[:500], steps=800, seed=1)
    with torch.no_grad():
        pred = a(x[500:])
        assert torch.equal(pred, b(x[500:]))
    r2 = 1 - ((pred - y[500:]) ** 2).sum(0) / ((y[500:] - y[500:].mean(0)) ** 2).sum(0)
    assert torch.all(r2 > 0.9), r2


def test_the_proprio_cost_compares_goal_features_when_both_sides_have_them():
    z = torch.zeros(2, 3, 4)                    # two candidates, equal latents
    feats = torch.tensor([[[0.0, 0.0]] * 3, [[1.0, 1.0]] * 3])
    pred = Latent(z, torch.zeros(2, 3, 6), feats)
    goal = Latent(torch.zeros(1, 4), None, torch.tensor([[1.0, 1.0]]))
    cost = latent_cost(pred, goal, CostConfig(reduce="sum", proprio_weight=1.0))
    assert cost[1] < cost[0] and float(cost[0]) == pytest.approx(1.0)
    # without the goal's features (no readout) the term is off, as with weight 0
    assert torch.equal(latent_cost(pred, Latent(goal.z), CostConfig(proprio_weight=1.0)),
                       latent_cost(pred, goal, CostConfig(proprio_weight=0.0)))


def test_wm_train_fits_a_readout_that_reads_goal_images(readout_model, reach_data):
    from worldmodel.data.storage import EpisodeStore

    out, summary = readout_model
    assert (out / READOUT_PATH).is_file() and len(summary["goal_readout_val_r2"]) == 3
    model = load_world_model(out / "checkpoint.pt", device="cpu", latent_space="projected")
    store = EpisodeStore(reach_data)
    pixels = np.stack([store[e]["pixels"][t] for e in range(len(store)) for t in (0, 6, 12)])
    proprio = np.stack([store[e]["proprio"][t] for e in range(len(store)) for t in (0, 6, 12)])
    goal = model.encode(pixels)                                  # images only: estimated
    given = model.encode(pixels, proprio)                        # with proprio: computed
    truth = proprio_features(torch.from_numpy(proprio).float(), REACH_SPEC)
    assert torch.allclose(given.features, truth, atol=1e-5)
    assert goal.features.shape == truth.shape and goal.proprio is None
    err = (goal.features - truth).abs().mean(0)
    spread = (truth - truth.mean(0)).abs().mean(0)
    assert torch.all(err < 0.5 * spread), (err, spread)       # far better than the mean guess
    # a rollout carries the features of its predicted proprio
    start = Latent(given.z[:1], given.proprio[:1], given.features[:1])
    pred = model.rollout(start, torch.zeros(4, 3, 2))
    assert pred.features.shape == (4, 3, 3)


def test_a_readout_of_another_model_is_not_attached(readout_model, reach_data, tmp_path):
    import shutil

    out, _ = readout_model
    other = tmp_path / "other"
    train_world_model(_train_cfg(reach_data, other, steps=2, goal_readout_steps=0,
                                 train=TrainConfig(steps=2, batch_size=16, seed=5, warmup=1,
                                                   cooldown=1, progress=False, device="cpu")))
    assert not (other / READOUT_PATH).exists()                  # goal_readout_steps=0: none
    shutil.copy(out / READOUT_PATH, other / READOUT_PATH)       # fitted on other latents
    with pytest.warns(UserWarning, match="goal readout"):
        model = load_world_model(other / "checkpoint.pt", device="cpu")
    assert model.goal_readout is None and model.encode(
        np.zeros((1, 32, 32, 3), np.uint8)).features is None


def test_resuming_wm_train_reuses_the_runs_projection(reach_data, tmp_path, monkeypatch):
    # a refit could flip components' signs (randomised PCA, another thread count) and leave the
    # training latents out of step with the projection the trainer restores
    cfg = _train_cfg(reach_data, tmp_path / "run", steps=10, goal_readout_steps=0)
    train_world_model(cfg)
    monkeypatch.setattr(LatentProjection, "fit", lambda *a, **k: pytest.fail("refit on resume"))
    longer = _train_cfg(reach_data, tmp_path / "run", steps=20, goal_readout_steps=0,
                        train=TrainConfig(**{**cfg.train.__dict__, "steps": 20}))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert train_world_model(longer)["steps"] == 20


class FeaturesOnlyModel:
    """A world model whose latent is blind (always zero) and whose features integrate the actions:
    only the proprio term can tell candidates apart."""

    action_dim = 2
    device = torch.device("cpu")
    goal_readout = "a readout"          # what check_goal_proprio looks for

    def encode(self, pixels, proprio=None):
        return Latent(torch.zeros(1, 3), None, torch.zeros(1, 2))

    def rollout(self, start, actions):
        feats = start.features[:, None] + 0.25 * actions.cumsum(1)
        return Latent(torch.zeros(actions.shape[0], actions.shape[1], 3), None, feats)


def test_cem_reaches_goal_features_through_the_proprio_term_alone():
    from planners import make_planner

    model, target = FeaturesOnlyModel(), torch.tensor([[0.6, -0.4]])
    goal = Latent(torch.zeros(1, 3), None, target)
    cem = make_planner("cem", horizon=4, samples=200, iterations=8, seed=0,
                       cost={"metric": "l2", "reduce": "final", "proprio_weight": 1.0})
    plan = cem.plan(model, model.encode(None), goal)
    reached = 0.25 * plan.actions.sum(0)
    assert torch.allclose(reached, target[0], atol=0.05), reached
    blind = make_planner("cem", horizon=4, samples=200, iterations=8, seed=0,
                         cost={"metric": "l2", "reduce": "final"})
    assert (0.25 * blind.plan(model, model.encode(None), goal).actions.sum(0)
            - target[0]).abs().max() > 0.1                      # without the term: no signal


def test_wm_plan_refuses_a_proprio_weight_without_a_goal_readout():
    from planners.commands import plan_command

    cfg = {"env": {"name": "reach", "image_size": 24},
           "planner": {"name": "cem", "horizon": 2, "samples": 6, "iterations": 2, "elites": 2,
                       "cost": {"proprio_weight": 1.0}},
           "world_model": "oracle", "encoder": None, "episodes": 1, "steps": 1, "seed": 0,
           "videos": 0, "reference": False, "device": "cpu", "out": None, "progress": False}
    with pytest.raises(ValueError, match="goal readout"):
        plan_command(cfg)


def test_wm_plan_runs_with_the_readout_models_proprio_term(readout_model, tmp_path):
    from planners.commands import plan_command

    out, _ = readout_model
    cfg = {"env": {"name": "reach", "image_size": 32},
           "planner": {"name": "cem", "horizon": 2, "samples": 8, "iterations": 2, "elites": 2,
                       "cost": {"proprio_weight": 1.0}},
           "world_model": str(out / "checkpoint.pt"), "latent_space": "projected",
           "episodes": 1, "steps": 2, "seed": 0, "videos": 0, "reference": False,
           "device": "cpu", "out": None, "progress": False}
    assert plan_command(cfg)["episodes"] == 1

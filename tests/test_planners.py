"""Planners and costs on an analytic linear world model whose optimal plan is known exactly."""
from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import pytest
import torch
from omegaconf import OmegaConf
from toy_world_models import ExplodingWorldModel, LinearWorldModel, box_optimum, linear_optimum

from planners import (
    CEM,
    MPPI,
    CEMConfig,
    CostConfig,
    GradientConfig,
    GradientPlanner,
    Latent,
    MPPIConfig,
    PlannerConfig,
    RandomActions,
    latent_cost,
    make_planner,
)
from planners.registry import PLANNERS

#: the flat planners (the two-level "hier" needs a hierarchical model: tests/test_hierarchical.py)
FLAT = [name for name in PLANNERS if name != "hier"]

A = torch.tensor([[0.9, 0.2, 0.0], [-0.1, 0.8, 0.1], [0.0, 0.1, 0.9]])
B = torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.5, -0.5]])
Z0 = torch.tensor([[0.5, -0.3, 0.2]])
GOAL = torch.tensor([[0.2, 0.4, -0.1]])      # optimum strictly inside [-1, 1]
FAR_GOAL = torch.tensor([[3.0, -3.0, 1.0]])  # unconstrained optimum outside [-1, 1]
H = 4
L2_SUM = {"metric": "l2", "reduce": "sum"}
CONFIGS = Path(__file__).resolve().parents[1] / "configs" / "planner"

# Settings under which each planner should solve the toy problem accurately.
ACCURATE = {
    "cem": {"iterations": 20},
    "mppi": {"iterations": 20},
    "gradient": {"iterations": 150, "lr": 0.05},
}
# Small, fast settings for the behavioural tests.
FAST = {
    "cem": {"samples": 32, "elites": 4, "iterations": 3},
    "mppi": {"samples": 32, "iterations": 3},
    "gradient": {"iterations": 2, "restarts": 8, "init_std": 1.0},  # noisy restarts can win
    "random": {},
}


@pytest.fixture
def model() -> LinearWorldModel:
    return LinearWorldModel(A, B)


def plan(name: str, model, goal=GOAL, **settings):
    planner = make_planner(name, horizon=H, cost=L2_SUM, **settings)
    return planner, planner.plan(model, model.encode(Z0), model.encode(goal))


# ------------------------------------------------------------------ costs
def test_cost_metrics_on_hand_computed_tensors():
    goal = Latent(torch.tensor([[1.0, 0.0]]))
    pred = Latent(torch.tensor([[[0.0, 0.0], [3.0, 4.0]]]))  # N=1, H=2: cost of the final step
    assert latent_cost(pred, goal, CostConfig("l1")).item() == pytest.approx((2 + 4) / 2)
    assert latent_cost(pred, goal, CostConfig("l2")).item() == pytest.approx((4 + 16) / 2)
    assert latent_cost(pred, goal, CostConfig("cosine")).item() == pytest.approx(1 - 3 / 5)


def test_cost_reduce_sum_averages_all_steps_final_takes_the_last():
    goal = Latent(torch.zeros(1, 1))
    pred = Latent(torch.tensor([[[1.0], [3.0]], [[2.0], [0.0]]]))  # N=2, H=2
    final = latent_cost(pred, goal, CostConfig("l1", "final"))
    summed = latent_cost(pred, goal, CostConfig("l1", "sum"))
    assert final.tolist() == pytest.approx([3.0, 0.0])
    assert summed.tolist() == pytest.approx([2.0, 1.0])
    shaped = latent_cost(pred, goal, CostConfig("l1", "final", path_weight=0.5))
    assert shaped.tolist() == pytest.approx([3.0 + 0.5 * 2.0, 0.0 + 0.5 * 1.0])
    with pytest.raises(ValueError, match="path_weight"):
        CostConfig(path_weight=-1.0)


def test_cost_proprio_term_needs_both_proprios():
    cfg = CostConfig("l1", proprio_weight=0.5)
    pred = Latent(torch.zeros(1, 1, 2), proprio=torch.tensor([[[2.0, 4.0]]]))
    with_proprio = Latent(torch.zeros(1, 2), proprio=torch.zeros(1, 2))
    assert latent_cost(pred, with_proprio, cfg).item() == pytest.approx(0.5 * 3.0)
    assert latent_cost(pred, Latent(torch.zeros(1, 2)), cfg).item() == 0.0
    assert latent_cost(Latent(pred.z), with_proprio, cfg).item() == 0.0


def test_cost_shape_mismatch_and_bad_config_raise():
    with pytest.raises(ValueError, match="do not match"):
        latent_cost(Latent(torch.zeros(2, 3, 4)), Latent(torch.zeros(1, 5)))
    with pytest.raises(ValueError, match="metric"):
        CostConfig(metric="l3")
    with pytest.raises(ValueError, match="reduce"):
        CostConfig(reduce="max")


# ------------------------------------------------------------------ optimality
@pytest.mark.parametrize("name", ["cem", "mppi", "gradient"])
def test_planner_finds_the_least_squares_optimum(model, name):
    best, best_cost = linear_optimum(model, Z0, GOAL, H, reduce="sum")
    assert best.abs().max() < 0.9  # the optimum is strictly inside the bounds
    _, result = plan(name, model, **ACCURATE[name])
    assert (result.actions - best).abs().max() < 0.05
    assert result.cost == pytest.approx(best_cost, abs=1e-4)


@pytest.mark.parametrize("name", ["cem", "mppi", "gradient"])
def test_planner_stops_on_the_bound_when_the_optimum_is_outside(model, name):
    free, _ = linear_optimum(model, Z0, FAR_GOAL, H, reduce="sum")
    assert free.abs().max() > 1.0  # the unconstrained optimum is out of bounds
    boxed, boxed_cost = box_optimum(model, Z0, FAR_GOAL, H, -1.0, 1.0, reduce="sum")
    on_bound = boxed.abs() > 1 - 1e-6
    assert on_bound.any()
    _, result = plan(name, model, goal=FAR_GOAL, **ACCURATE[name])
    assert (result.actions[on_bound] - boxed[on_bound]).abs().max() < 0.02
    assert result.cost == pytest.approx(boxed_cost, rel=1e-2)


@pytest.mark.parametrize("name", ["cem", "mppi", "gradient"])
def test_held_actions_find_the_optimum_among_piecewise_constant_plans(model, name):
    # horizon 5 searched as 3 actions held 2 steps each (the last one cut to 1 step)
    held, held_cost = linear_optimum(model, Z0, GOAL, 5, reduce="sum", hold=2)
    free_cost = linear_optimum(model, Z0, GOAL, 5, reduce="sum")[1]
    assert held_cost > free_cost + 1e-4       # holding is a real constraint here
    planner = make_planner(name, horizon=5, hold=2, cost=L2_SUM, **ACCURATE[name])
    assert planner.search_steps == 3
    result = planner.plan(model, model.encode(Z0), model.encode(GOAL))
    assert result.actions.shape == (5, model.action_dim)
    assert torch.equal(result.actions[0], result.actions[1])
    assert torch.equal(result.actions[2], result.actions[3])
    assert (result.actions - held).abs().max() < 0.05
    assert result.cost == pytest.approx(held_cost, rel=2e-2)


def test_held_plan_warm_starts_shifted_by_executed_steps(model):
    planner = make_planner("cem", horizon=6, hold=2, cost=L2_SUM, **FAST["cem"])
    plan = planner.plan(model, model.encode(Z0), model.encode(GOAL)).actions  # a a b b c c
    planner.advance(2)                       # a a executed: b c, then zeros
    assert torch.equal(planner.initial_mean(2, model.device),
                       torch.stack([plan[2], plan[4], torch.zeros(2)]))
    planner.advance(1)                       # half of b executed: blocks realign to b c | c 0 | 0 0
    assert torch.equal(planner.initial_mean(2, model.device),
                       torch.stack([plan[2], plan[4], torch.zeros(2)]))


@pytest.mark.parametrize("name", ["cem", "mppi", "gradient"])
def test_hold_blocks_find_the_optimum_among_move_blocked_plans(model, name):
    # move blocking: 6 steps searched as 3 actions held 2, 3 and 1 steps
    blocks = (2, 3, 1)
    held, held_cost = linear_optimum(model, Z0, GOAL, 6, reduce="sum", hold=blocks)
    assert held_cost > linear_optimum(model, Z0, GOAL, 6, reduce="sum")[1] + 1e-4
    settings = {**ACCURATE[name], **({"samples": 1000} if name == "mppi" else {})}  # flat optimum
    planner = make_planner(name, horizon=6, hold=list(blocks), cost=L2_SUM, **settings)
    assert planner.search_steps == 3
    result = planner.plan(model, model.encode(Z0), model.encode(GOAL))
    assert result.actions.shape == (6, model.action_dim)
    assert torch.equal(result.actions[0], result.actions[1])
    assert torch.equal(result.actions[2], result.actions[4])
    assert not torch.equal(result.actions[4], result.actions[5])
    assert (result.actions - held).abs().max() < 0.05
    assert result.cost == pytest.approx(held_cost, rel=2e-2)


def test_hold_blocks_warm_start_from_each_blocks_first_step(model):
    planner = make_planner("cem", horizon=6, hold=[1, 2, 3], cost=L2_SUM, **FAST["cem"])
    plan = planner.plan(model, model.encode(Z0), model.encode(GOAL)).actions  # a b b c c c
    planner.advance(1)                       # a executed: b b c c c 0 -> firsts at 0, 1, 3
    assert torch.equal(planner.initial_mean(2, model.device),
                       torch.stack([plan[1], plan[2], plan[5]]))   # b b c
    planner.advance(2)                       # b | b b | c c c run held, 2 executed: b c c c 0 0
    assert torch.equal(planner.initial_mean(2, model.device),
                       torch.stack([plan[1], plan[3], plan[3]]))   # b c c


def test_random_actions_hold_their_draws():
    result = RandomActions(PlannerConfig(horizon=5, hold=3)).plan(
        ExplodingWorldModel(A, B), Latent(Z0), Latent(GOAL))
    assert result.actions.shape == (5, 2)
    assert torch.equal(result.actions[:3], result.actions[:1].expand(3, 2))
    assert torch.equal(result.actions[3], result.actions[4])


def test_cem_executing_its_final_mean_finds_the_optimum_and_reports_the_mean_cost(model):
    best, best_cost = linear_optimum(model, Z0, GOAL, H, reduce="sum")
    planner, result = plan("cem", model, execute="mean", **ACCURATE["cem"])
    assert (result.actions - best).abs().max() < 0.05
    start, goal = model.encode(Z0), model.encode(GOAL)
    assert result.cost == pytest.approx(float(planner.evaluate(model, start, goal,
                                                                result.actions[None])[0]))
    assert len(result.costs) == ACCURATE["cem"]["iterations"]  # the search's best per iteration
    planner.advance(1)                                 # the warm start shifts the mean's plan
    assert torch.equal(planner.initial_mean(model.action_dim, model.device),
                       torch.cat([result.actions[1:], torch.zeros(1, model.action_dim)]))


def test_gradient_planner_works_inside_no_grad(model):
    with torch.no_grad():
        _, result = plan("gradient", model, **ACCURATE["gradient"])
    assert result.cost == pytest.approx(linear_optimum(model, Z0, GOAL, H)[1], abs=1e-4)


# ------------------------------------------------------------------ behaviour
@pytest.mark.parametrize("name", FLAT)
def test_actions_stay_within_asymmetric_bounds(model, name):
    _, result = plan(name, model, goal=FAR_GOAL, action_low=-0.3, action_high=0.6, **FAST[name])
    assert result.actions.shape == (H, model.action_dim)
    assert result.actions.min() >= -0.3 and result.actions.max() <= 0.6


@pytest.mark.parametrize("name", FLAT)
def test_same_seed_same_plan_different_seed_different_plan(model, name):
    first = plan(name, model, goal=FAR_GOAL, seed=1, **FAST[name])[1].actions
    again = plan(name, model, goal=FAR_GOAL, seed=1, **FAST[name])[1].actions
    other = plan(name, model, goal=FAR_GOAL, seed=2, **FAST[name])[1].actions
    assert torch.equal(first, again)
    assert not torch.allclose(first, other)


def test_reset_with_a_seed_replays_the_search(model):
    planner, first = plan("cem", model, seed=5, **FAST["cem"])
    planner.reset(seed=5)
    second = planner.plan(model, model.encode(Z0), model.encode(GOAL))
    assert torch.equal(first.actions, second.actions)


@pytest.mark.parametrize("name", ["cem", "mppi", "gradient"])
def test_cost_history_has_one_entry_per_iteration_best_so_far(model, name):
    _, result = plan(name, model, **FAST[name])
    assert len(result.costs) == FAST[name]["iterations"]
    assert all(b <= a for a, b in zip(result.costs, result.costs[1:]))
    assert result.costs[-1] == result.cost


def test_warm_start_shifts_the_previous_plan(model):
    planner, result = plan("cem", model, **FAST["cem"])
    planner.advance(1)
    expected = torch.cat([result.actions[1:], torch.zeros(1, model.action_dim)])
    assert torch.equal(planner.initial_mean(model.action_dim, model.device), expected)
    planner.advance(H)  # executed everything that was left: all zeros
    assert torch.equal(planner.initial_mean(model.action_dim, model.device), torch.zeros(H, 2))


def test_reset_and_warm_start_off_start_from_zeros(model):
    planner, _ = plan("cem", model, **FAST["cem"])
    planner.reset()
    assert torch.equal(planner.initial_mean(2, model.device), torch.zeros(H, 2))
    cold, _ = plan("cem", model, warm_start=False, **FAST["cem"])
    cold.advance(1)
    assert torch.equal(cold.initial_mean(2, model.device), torch.zeros(H, 2))


def test_random_actions_never_roll_out_the_model():
    model = ExplodingWorldModel(A, B)
    result = RandomActions(PlannerConfig(horizon=H)).plan(model, Latent(Z0), Latent(GOAL))
    assert result.actions.shape == (H, 2)
    assert math.isnan(result.cost) and result.costs == []


def test_planners_need_batch_one_start_and_goal(model):
    with pytest.raises(ValueError, match="batch-1 start"):
        CEM(CEMConfig(**FAST["cem"])).plan(model, Latent(Z0.repeat(2, 1)), Latent(GOAL))


# ------------------------------------------------------------------ configuration
def test_make_planner_builds_each_planner_with_nested_cost():
    planner = make_planner("mppi", horizon=3, cost={"metric": "cosine"})
    assert isinstance(planner, MPPI) and planner.cfg.horizon == 3
    assert planner.cfg.cost == CostConfig(metric="cosine")
    assert isinstance(make_planner("gradient"), GradientPlanner)


def test_make_planner_rejects_unknown_names_and_keys():
    with pytest.raises(ValueError, match="unknown planner 'ilqr'.*cem"):
        make_planner("ilqr")
    with pytest.raises(ValueError, match="elite.*valid:.*elites"):
        make_planner("cem", elite=3)
    with pytest.raises(ValueError, match="metrc.*valid:.*metric"):
        make_planner("cem", cost={"metrc": "l2"})


@pytest.mark.parametrize("bad", [
    lambda: CEMConfig(samples=10, elites=20),
    lambda: CEMConfig(samples=0),
    lambda: CEMConfig(momentum=1.0),
    lambda: CEMConfig(execute="median"),
    lambda: MPPIConfig(temperature=0.0),
    lambda: MPPIConfig(std_decay=1.5),
    lambda: GradientConfig(restarts=0),
    lambda: GradientConfig(lr=-1.0),
    lambda: PlannerConfig(horizon=0),
    lambda: PlannerConfig(hold=0),
    lambda: PlannerConfig(horizon=5, hold=[1, 2]),       # blocks must cover the horizon
    lambda: PlannerConfig(horizon=2, hold=[2, 0]),
    lambda: PlannerConfig(hold=[]),
    lambda: PlannerConfig(action_low=1.0, action_high=-1.0),
])
def test_invalid_configs_raise(bad):
    with pytest.raises(ValueError):
        bad()


@pytest.mark.parametrize("name", FLAT)
def test_hydra_config_files_list_every_field_with_its_default(name):
    cfg = OmegaConf.to_container(OmegaConf.load(CONFIGS / f"{name}.yaml"))
    assert cfg.pop("name") == name
    defaults = dataclasses.asdict(PLANNERS[name][1]())
    assert cfg == defaults
    assert type(make_planner(name, **cfg)) is PLANNERS[name][0]

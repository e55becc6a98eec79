"""The MPC loop, the evaluation harness, the report, the oracle model and `wm plan`."""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from envs.reach import ReachEnv
from envs.seeding import episode_seed
from planners.base import Planner, PlannerConfig, PlanResult
from planners.commands import plan_command
from planners.evaluate import EvalConfig, evaluate, held_out_pairs, wilson_interval
from planners.mpc import MPCConfig, run_episode
from planners.oracle import OracleWorldModel, PixelEncoder
from planners.protocol import Latent
from planners.report import ROW_KEYS, write_report
from worldmodel.data.storage import EpisodeStore

SENTINEL = object()  # rides in every info dict: it must never reach the model or the planner


class SentinelReach(ReachEnv):
    """Reach whose ``info`` carries :data:`SENTINEL` and which counts its steps."""

    steps_taken = 0

    def _info(self):
        return {**super()._info(), "sentinel": SENTINEL}

    def step(self, action):
        self.steps_taken += 1
        return super().step(action)


class ToyModel:
    """encode = 8x8 downsampled pixels; rollout = the start repeated; decode = upsampled latent."""

    def __init__(self, action_dim: int = 2, decode: bool = False):
        self.action_dim, self.device = action_dim, torch.device("cpu")
        self.calls: list[tuple[str, tuple]] = []
        if decode:
            self.decode = self._decode

    def encode(self, pixels, proprio=None) -> Latent:
        self.calls.append(("encode", (pixels, proprio)))
        x = torch.as_tensor(pixels).permute(0, 3, 1, 2).float() / 255.0
        p = None if proprio is None else torch.as_tensor(proprio)
        return Latent(F.adaptive_avg_pool2d(x, 8), p)

    def rollout(self, start: Latent, actions: torch.Tensor) -> Latent:
        self.calls.append(("rollout", (start, actions)))
        n, h = actions.shape[:2]
        z = start.z[:, None].expand(n, h, *start.z.shape[1:])
        return Latent(z + 0.0 * actions.sum(), None)

    def _decode(self, z: torch.Tensor) -> np.ndarray:
        self.calls.append(("decode", (z,)))
        return (z.permute(0, 2, 3, 1).repeat_interleave(2, 1).repeat_interleave(2, 2) * 255
                ).to(torch.uint8).numpy()


class ToyPlanner(Planner):
    """Plans step ``t`` as ``0.1 * (t + 1)`` everywhere; rolls the model once; records calls."""

    def __init__(self, horizon: int = 4):
        super().__init__(PlannerConfig(horizon=horizon))
        self.plans: list[tuple] = []
        self.advances: list[int] = []

    def plan(self, model, start, goal) -> PlanResult:
        self.plans.append((model, start, goal))
        steps = torch.arange(1, self.cfg.horizon + 1, dtype=torch.float32)
        actions = (0.1 * steps)[:, None].expand(-1, model.action_dim).clone()
        cost = float(self.evaluate(model, start, goal, actions[None])[0])
        return PlanResult(actions, cost, [cost + 2, cost + 1, cost])

    def advance(self, executed: int) -> None:
        self.advances.append(executed)
        super().advance(executed)


@pytest.fixture(scope="module")
def env():
    env = SentinelReach(image_size=32)
    yield env
    env.close()


def _flatten(obj):
    if isinstance(obj, Latent):
        yield from (obj, obj.z, obj.proprio)
    elif isinstance(obj, (tuple, list)):
        for item in obj:
            yield from _flatten(item)
    else:
        yield obj


def test_model_and_planner_see_only_pixels_proprio_and_goal(env):
    model, planner = ToyModel(action_dim=4, decode=True), ToyPlanner(horizon=3)
    record = run_episode(env, model, planner, MPCConfig(steps=3, replan_every=1), seed=5)
    args = [a for _, call in model.calls for a in _flatten(call)]
    args += [a for call in planner.plans for a in _flatten(call[1:])]
    assert all(call[0] is model for call in planner.plans)
    for arg in args:
        assert arg is not SENTINEL and not isinstance(arg, (dict, bool, str)), type(arg)
        assert arg is None or isinstance(arg, (np.ndarray, torch.Tensor, Latent)), type(arg)
        if isinstance(arg, np.ndarray):  # observations only: uint8 images or float32 proprio
            assert (arg.dtype == np.uint8 and arg.shape[1:] == (32, 32, 3)) or \
                (arg.dtype == np.float32 and arg.shape == (1, env.proprio_dim)), arg.dtype
    encoded = [call for name, call in model.calls if name == "encode"]
    assert len(encoded) == 1 + 3 and encoded[0][1] is None            # goal once, no proprio
    assert np.array_equal(encoded[0][0][0], record.goal)
    assert np.array_equal(encoded[1][0][0], record.frames[0])
    assert record.imagined.shape == (3, 16, 16, 3) and record.imagined.dtype == np.uint8


@pytest.mark.parametrize("steps,every,advances", [(5, 2, [2, 2, 1]), (6, 3, [3, 3])])
def test_receding_horizon_replans_and_steps(env, steps, every, advances):
    model, planner = ToyModel(action_dim=4), ToyPlanner(horizon=4)   # chunk = 2 env actions
    before = env.steps_taken
    record = run_episode(env, model, planner, MPCConfig(steps=steps, replan_every=every), seed=1)
    assert len(planner.plans) == math.ceil(steps / every) == len(record.plan_ms)
    assert planner.advances == advances
    assert env.steps_taken - before == steps * 2 == len(record.actions)
    assert record.frames.shape == (steps * 2 + 1, 32, 32, 3) and record.frames.dtype == np.uint8
    # each planned step's chunk is executed in order: plan step t is 0.1 * (t + 1)
    first = [0.1 * (t + 1) for t in range(every) for _ in range(2)]
    assert np.allclose(record.actions[: 2 * every, 0], first)
    assert np.diff(record.costs[0]) == pytest.approx([-1, -1], abs=1e-6)
    assert isinstance(record.success, bool) and len(record.distances) == steps * 2


def test_held_out_pairs_reproducible_and_disjoint_from_collection(env, reach_data):
    a, b = held_out_pairs(env, 5, seed=3), held_out_pairs(env, 5, seed=3)
    assert [p.seed for p in a] == [episode_seed(3, i, "eval") for i in range(5)]
    assert all(np.array_equal(x.start_state, y.start_state) and
               np.array_equal(x.goal_state, y.goal_state) for x, y in zip(a, b))
    store = EpisodeStore(reach_data)   # collected with seed 3: the collect stream
    collect = held_out_pairs(env, len(store), seed=3, stream="collect")
    for i, pair in enumerate(collect):  # the collect stream reproduces the training episodes
        assert np.allclose(pair.start_state, store[i]["state"][0])
    seen = np.concatenate([store[i]["state"] for i in range(len(store))]
                          + [np.stack([p.goal_state for p in collect])])
    for pair in a:
        for state in (pair.start_state, pair.goal_state):
            assert np.abs(seen[:, :2] - state[:2]).max(1).min() > 1e-6


def test_long_pairs_are_far_apart_and_reproducible():
    from envs.pointmaze import PointMazeEnv, maze_distance
    from envs.push import TABLE, PushEnv

    maze = PointMazeEnv(image_size=32)
    pairs = held_out_pairs(maze, 8, seed=1, stream="eval_long", long=True)
    again = held_out_pairs(maze, 8, seed=1, stream="eval_long", long=True)
    for pair, same in zip(pairs, again):
        assert np.array_equal(pair.start_state, same.start_state)
        start, goal = maze.cell_of(pair.start_state), maze.cell_of(pair.goal_state)
        assert maze_distance(maze.grid, start, goal) >= 5      # arm to arm of the U
        assert np.linalg.norm(pair.start_state[:2] - pair.goal_state[:2]) < 3.2  # through a wall
    maze.close()
    push = PushEnv(image_size=32)
    for pair in held_out_pairs(push, 4, seed=1, stream="eval_long", long=True):
        assert np.linalg.norm(pair.start_state[2:4] - pair.goal_state[2:4]) >= 0.5 * TABLE
    push.close()
    cfg = EvalConfig(episodes=2, pairs="long")
    assert cfg.stream == "eval_long"
    with pytest.raises(ValueError, match="pairs must be one of"):
        EvalConfig(pairs="far")


def test_reachable_pairs_end_where_exploration_can_get_in_goal_steps():
    from envs.push import MAX_DELTA as PUSH_DELTA, PushEnv
    from envs.reach import MAX_DELTA as REACH_DELTA

    reach = ReachEnv(image_size=32)
    pairs = held_out_pairs(reach, 6, seed=2, stream="eval_reachable", reachable_steps=3)
    again = held_out_pairs(reach, 6, seed=2, stream="eval_reachable", reachable_steps=3)
    for pair, same in zip(pairs, again):
        assert np.array_equal(pair.goal_state, same.goal_state)
        assert not reach.goal_metrics(pair.start_state, pair.goal_state)["success"]
        assert np.all(pair.goal_state[2:] == 0.0)                   # at rest
        # each control step moves a joint's target by at most MAX_DELTA
        assert np.abs(pair.goal_state[:2] - pair.start_state[:2]).max() <= 3 * REACH_DELTA * 1.1
    reach.close()
    push = PushEnv(image_size=32)
    for pair in held_out_pairs(push, 4, seed=2, stream="eval_reachable", reachable_steps=25):
        assert not push.goal_metrics(pair.start_state, pair.goal_state)["success"]  # block moved
        assert np.linalg.norm(pair.goal_state[:2] - pair.start_state[:2]) <= 25 * PUSH_DELTA * 1.5
    push.close()
    cfg = EvalConfig(episodes=2, pairs="reachable", goal_steps=10)
    assert cfg.stream == "eval_reachable"
    with pytest.raises(ValueError, match="goal_steps"):
        EvalConfig(pairs="reachable", goal_steps=0)
    with pytest.raises(ValueError, match="not both"):
        held_out_pairs(push, 1, long=True, reachable_steps=5)


def test_reachable_pairs_give_up_loudly_when_every_goal_is_already_met(env, monkeypatch):
    monkeypatch.setattr(type(env), "goal_metrics", lambda self, s, g: {"distance": 0.0,
                                                                        "success": True})
    with pytest.raises(RuntimeError, match="satisfied at the start"):
        env.sample_reachable_pair(np.random.default_rng(0), steps=2, tries=3)


def test_tasks_without_far_pairs_refuse_long_pairs(env):
    with pytest.raises(NotImplementedError, match="no long-horizon"):
        held_out_pairs(env, 1, long=True)


def test_wilson_interval():
    assert wilson_interval(0, 0) == (0.0, 1.0)
    low, high = wilson_interval(0, 10)
    assert low == 0.0 and high == pytest.approx(0.2775, abs=1e-4)
    low, high = wilson_interval(10, 10)
    assert (low, high) == pytest.approx((0.7225, 1.0), abs=1e-4)
    assert wilson_interval(5, 10) == pytest.approx((0.2366, 0.7634), abs=1e-4)
    with pytest.raises(ValueError):
        wilson_interval(3, 2)


def test_report_writes_results_summary_videos_and_plot(env, tmp_path):
    cfg = EvalConfig(episodes=2, steps=3, videos=2, progress=False)
    model = ToyModel(action_dim=2, decode=True)
    result = evaluate(env, model, ToyPlanner(horizon=3), cfg)
    reference = evaluate(env, model, ToyPlanner(horizon=3), EvalConfig(
        episodes=2, steps=3, videos=0, progress=False))
    assert result["episodes"] == 2 and len(result["per_episode"]) == 2
    paths = write_report(tmp_path, result, name="toy / double", reference=reference,
                         config={"episodes": 2}, command="wm plan episodes=2")
    data = json.loads((tmp_path / "results.json").read_text())
    for key in ROW_KEYS + ("config", "command", "reference", "per_episode"):
        assert key in data, key
    assert data["command"] == "wm plan episodes=2" and data["config"] == {"episodes": 2}
    assert data["reference"]["success_rate"] == reference["success_rate"]
    assert len(data["success_ci95"]) == 2 and "records" not in data
    summary = (tmp_path / "summary.md").read_text()
    assert "toy / double" in summary and "random actions" in summary
    for i in range(2):
        assert (tmp_path / "videos" / f"episode_{i:03d}.mp4").stat().st_size > 0
    assert paths["plot"].stat().st_size > 0 and paths["plot"].name == "plot_costs.png"


def test_only_reruns_chosen_pairs_with_identical_results(env):
    from planners.registry import make_planner

    def run(**kw):
        cfg = EvalConfig(episodes=4, steps=3, videos=0, progress=False, **kw)
        return evaluate(env, ToyModel(), make_planner("random", horizon=3, seed=0), cfg)

    full, part = run(), run(only=[3, 1])
    assert [e["pair"] for e in full["per_episode"]] == [0, 1, 2, 3]
    assert [e["pair"] for e in part["per_episode"]] == [3, 1] and part["episodes"] == 2
    for row in part["per_episode"]:
        same = full["per_episode"][row["pair"]]
        assert row["seed"] == same["seed"] and row["final_distance"] == same["final_distance"]
    assert full["per_episode"][1]["final_distance"] != full["per_episode"][3]["final_distance"]
    for bad in ([4], [], [-1], ["a"]):
        with pytest.raises(ValueError, match="only must list pair indices"):
            EvalConfig(episodes=4, only=bad)


def test_oracle_rollout_matches_stepping_the_live_env(env):
    live = ReachEnv(image_size=32)
    encoder = PixelEncoder(action_dim=4, size=None)           # chunk = 2 env actions
    oracle = OracleWorldModel(lambda: ReachEnv(image_size=32), encoder, live)
    obs, _ = live.reset(seed=11)
    start = oracle.encode(obs["pixels"][None], obs["proprio"][None])
    actions = torch.rand(2, 3, 4, generator=torch.Generator().manual_seed(0)) * 2 - 1
    saved = live.get_state()
    pred = oracle.rollout(start, actions)
    assert pred.z.shape == (2, 3, 3, 32, 32) and pred.proprio.shape == (2, 3, 6)
    assert np.array_equal(live.get_state(), saved)            # the live env is not disturbed
    for n in range(2):
        live.set_state(saved)
        for t in range(3):
            for action in actions[n, t].numpy().reshape(2, 2):
                obs, *_ = live.step(action)
            truth = encoder.encode(obs["pixels"][None], obs["proprio"][None])
            assert torch.equal(pred.z[n, t], truth.z[0])
            assert torch.allclose(pred.proprio[n, t], truth.proprio[0])
    oracle.close()
    live.close()


def test_bad_inputs_give_clear_errors(env):
    with pytest.raises(ValueError, match="goal image"):
        run_episode(env, ToyModel(2), ToyPlanner(), MPCConfig(steps=1), seed=0,
                    goal_image=np.zeros((16, 16, 3), np.uint8))
    with pytest.raises(ValueError, match="multiple"):
        run_episode(env, ToyModel(3), ToyPlanner(), MPCConfig(steps=1), seed=0)
    with pytest.raises(ValueError, match="horizon"):
        run_episode(env, ToyModel(2), ToyPlanner(horizon=2), MPCConfig(4, replan_every=3), seed=0)
    with pytest.raises(ValueError, match="steps"):
        MPCConfig(steps=0)
    with pytest.raises(ValueError, match="model=CKPT .* or model=oracle"):
        plan_command({"env": {"name": "reach"}, "planner": {"name": "cem"}, "world_model": None})


def test_plan_command_with_the_oracle(tmp_path, capsys):
    pytest.importorskip("planners.registry")
    cfg = {"env": {"name": "reach", "image_size": 24},
           "planner": {"name": "cem", "horizon": 2, "samples": 6, "iterations": 2, "elites": 2},
           "world_model": "oracle", "encoder": None, "episodes": 2, "steps": 2, "replan_every": 1,
           "seed": 0, "videos": 1, "reference": True, "device": "cpu", "out": str(tmp_path),
           "progress": False}
    result = plan_command(cfg, command="wm plan world_model=oracle")
    out = capsys.readouterr().out
    assert "cem / oracle" in out and "random actions" in out and "plan results" in out
    assert result["episodes"] == 2 and result["reference"]["episodes"] == 2
    data = json.loads((tmp_path / "results.json").read_text())
    assert data["command"] == "wm plan world_model=oracle"
    assert data["config"]["world_model"] == "oracle"
    assert Path(tmp_path / "videos" / "episode_000.mp4").is_file()

"""The goal-landscape diagnostic: its scores and paths mean what they say."""
import numpy as np

from envs import make_env
from worldmodel.benchmarks.goal_landscape import barrier, landscape_scores, straight_path


def test_a_distance_that_orders_states_like_the_task_scores_one():
    task = np.linspace(0.0, 1.0, 50)
    perfect = landscape_scores(task ** 2, task, threshold=0.1)   # any increasing function
    assert perfect["succ<near"] == 1.0 and perfect["succ<far"] == 1.0
    assert np.isclose(perfect["spearman"], 1.0)
    inverted = landscape_scores(-task, task, threshold=0.1)
    assert inverted["succ<near"] == 0.0 and inverted["succ<far"] == 0.0
    assert np.isclose(inverted["spearman"], -1.0)


def test_barrier_is_the_largest_climb_above_the_best_so_far():
    assert barrier(np.array([1.0, 0.8, 0.5, 0.0])) == 0.0
    assert np.isclose(barrier(np.array([1.0, 0.5, 0.8, 0.6, 0.0])), 0.3)
    assert np.isclose(barrier(np.array([2.0, 1.0, 1.5, 0.0])), 0.25)   # relative to the start


def test_straight_path_turns_an_unlimited_shoulder_the_short_way():
    env = make_env("reach")
    start, goal = np.array([3.0, 0.5, 0.0, 0.0]), np.array([-3.0, -0.5, 0.0, 0.0])
    path = straight_path(env, start, goal, 5)
    env.close()
    assert path.shape == (5, 4)
    np.testing.assert_allclose(path[0], start)
    middle = path[2]
    assert np.isclose(np.cos(middle[0]), -1.0)      # through pi, not through 0
    assert np.isclose(middle[1], 0.0)                # the limited elbow goes straight
    assert np.isclose(np.cos(path[-1][0]), np.cos(goal[0])) and np.isclose(path[-1][1], -0.5)

"""``wm eval-rollout``: held-out rollout error against horizon, next to repeat-the-last-latent."""
import json

import numpy as np
import torch

from planners.protocol import Latent
from worldmodel.data.storage import EpisodeStore
from worldmodel.eval_rollout import RolloutEvalConfig, eval_rollout, rollout_errors


class StandStillModel:
    """A world model double: latents are 4x4-pooled pixels; it predicts that nothing moves."""

    action_dim, device = 2, torch.device("cpu")

    def encode(self, pixels, proprio=None):
        x = torch.as_tensor(np.asarray(pixels), dtype=torch.float32) / 255
        return Latent(x.unflatten(1, (-1, 4)).unflatten(3, (-1, 4)).mean((2, 4)), None)

    def rollout(self, start, actions):
        return Latent(start.z[:, None].expand(-1, actions.shape[1], *start.z.shape[1:]), None)


def test_errors_align_predictions_with_the_frames_that_followed(reach_data):
    store = EpisodeStore(reach_data)
    errors = rollout_errors(StandStillModel(), store, [0, 1], horizon=3, every=2)
    # a model that predicts no change is exactly the repeat-last baseline
    assert np.allclose(errors["model"], errors["repeat_last"])
    # the baseline equals the mean |z_t - z_{t+h}| over the rollout starts, computed by hand
    model = StandStillModel()
    z = [model.encode(np.array(store[e]["pixels"])).z for e in (0, 1)]
    starts = range(0, store.meta.steps - 3 + 1, 2)
    for h in range(1, 4):
        manual = np.mean([float((zz[t] - zz[t + h]).abs().mean()) for zz in z for t in starts])
        assert np.isclose(errors["repeat_last"][h - 1], manual, rtol=1e-5)
    assert errors["repeat_last"][2] > errors["repeat_last"][0] > 0  # things move over time


def test_eval_rollout_writes_table_plot_and_json_next_to_the_model(reach_data, tmp_path):
    from test_world_model import _train_cfg
    from worldmodel.ac_train import train_world_model

    train_world_model(_train_cfg(reach_data, tmp_path / "wm", steps=5))
    result = eval_rollout(RolloutEvalConfig(world_model=str(tmp_path / "wm" / "checkpoint.pt"),
                                            data_dir=str(reach_data), out="auto",
                                            horizon=3, every=3, val_fraction=0.34,
                                            progress=False, device="cpu"))
    out = tmp_path / "wm" / "eval_rollout"          # out=auto: beside the checkpoint
    saved = json.loads((out / "rollout_error.json").read_text())
    assert saved["horizon"] == 3 and len(saved["model"]) == 3 and len(saved["repeat_last"]) == 3
    assert result["ratio_to_repeat_last"] == saved["ratio_to_repeat_last"]
    assert (out / "rollout_error.png").stat().st_size > 1000
    assert "repeat last" in (out / "rollout_error.md").read_text()

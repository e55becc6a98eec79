"""The pixel world model (Visual Foresight / Visual MPC baseline) behind the planner protocol.

Its "latent" is the image itself: :meth:`PixelWorldModel.encode` turns uint8 observations into
float frames ``[B, 3, S, S]`` in ``[0, 1]`` and :meth:`PixelWorldModel.rollout` predicts the frames
``[N, H, 3, S, S]`` after each candidate action, so a planner's cost (:mod:`planners.costs`) is a
distance in pixel space to the goal image. Trained by ``wm train model=pixel``
(:mod:`worldmodel.pixel_train`) on the same trajectories as the latent model, with pixel MSE.

Example::

    model = load_pixel_world_model("runs/reach/pixel_model/checkpoint.pt", task="reach")
    start = model.encode(obs["pixels"][None])
    goal = model.encode(env.render_goal()[None])
    pred = model.rollout(start, actions)       # actions [N, H, A] -> z [N, H, 3, S, S]
    frames = model.decode(pred.z[0])           # uint8 [H, S, S, 3]
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from einops import rearrange
from torch import nn

from planners.protocol import Latent, check_actions
from worldmodel.models.pixel_predictor import PixelPredictor, PixelPredictorConfig
from worldmodel.train.checkpoint import CheckpointError, load_checkpoint, submodule_state
from worldmodel.train.loop import resolve_device

__all__ = [
    "KIND",
    "PixelWorldModel",
    "PixelWorldModelNet",
    "architecture",
    "build_from_architecture",
    "load_pixel_world_model",
]

KIND = "pixel_world_model"


def to_float_frames(frames: torch.Tensor) -> torch.Tensor:
    """uint8 frames (0..255) -> float32 in ``[0, 1]``; float frames are passed through."""
    return frames.float() / 255.0 if frames.dtype == torch.uint8 else frames.float()


class PixelWorldModelNet(nn.Module):
    """The :class:`PixelPredictor` and its training losses (what a checkpoint holds).

    Args:
        cfg: the predictor's shape.
        rollout_steps: ``k`` of the autoregressive rollout loss (0 disables it).
        rollout_weight: weight of the rollout loss against the teacher-forcing loss.
    """

    def __init__(self, cfg: PixelPredictorConfig, rollout_steps: int = 4,
                 rollout_weight: float = 1.0):
        super().__init__()
        if rollout_steps < 0:
            raise ValueError(f"rollout_steps must be >= 0, got {rollout_steps}")
        self.predictor = PixelPredictor(cfg)
        self.rollout_steps, self.rollout_weight = rollout_steps, rollout_weight

    def losses(self, frames: torch.Tensor,
               actions: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Pixel MSE of clips ``frames [B, n, 3, S, S]`` (uint8 or float in ``[0, 1]``) and
        ``actions [B, n-1, A]``: teacher forcing plus ``rollout_weight`` times a rollout of
        ``min(rollout_steps, n-1)`` steps from the first frame. Returns ``(loss, stats)``."""
        frames, actions = to_float_frames(frames), actions.float()
        tf = F.mse_loss(self.predictor(frames, actions), frames[:, 1:])
        stats = {"tf_loss": tf.detach()}
        loss = tf
        k = min(self.rollout_steps, actions.shape[1])
        if k > 0 and self.rollout_weight > 0:
            ro = F.mse_loss(self.predictor.rollout(frames[:, 0], actions[:, :k]),
                            frames[:, 1:k + 1])
            loss = loss + self.rollout_weight * ro
            stats["rollout_loss"] = ro.detach()
        return loss, stats


def architecture(net: PixelWorldModelNet) -> dict[str, Any]:
    """What a checkpoint must match to be loaded into ``net``."""
    return {"predictor": net.predictor.cfg.to_dict()}


def build_from_architecture(arch: dict[str, Any], rollout_steps: int = 4,
                            rollout_weight: float = 1.0) -> PixelWorldModelNet:
    """An uninitialised :class:`PixelWorldModelNet` with a checkpoint's architecture."""
    return PixelWorldModelNet(PixelPredictorConfig(**arch["predictor"]), rollout_steps,
                              rollout_weight)


class PixelWorldModel:
    """:class:`PixelWorldModelNet` implementing :class:`planners.protocol.WorldModel`.

    Latents are frames ``[3, S, S]`` in ``[0, 1]``; proprio is neither used nor predicted
    (``Latent.proprio`` is None). A batch-1 start is encoded to the hidden map once and shared by
    all candidates. ``decode`` turns predicted frames into uint8 images for videos.
    """

    def __init__(self, net: PixelWorldModelNet, meta: dict[str, Any] | None = None,
                 device: str | torch.device = "cpu"):
        self.device = torch.device(device)
        # channels-last convolutions are markedly faster on CPU (and fine on CUDA)
        self.net = net.to(self.device, memory_format=torch.channels_last).eval() \
            .requires_grad_(False)
        self.meta = meta or {}
        cfg = net.predictor.cfg
        self.action_dim, self.image_size = cfg.action_dim, cfg.image_size

    @torch.no_grad()
    def encode(self, pixels: np.ndarray | torch.Tensor,
               proprio: np.ndarray | torch.Tensor | None = None) -> Latent:
        """uint8 images ``[B, S, S, 3]`` -> ``Latent(frames [B, 3, S, S] in [0, 1], None)``;
        ``proprio`` is accepted for the protocol and ignored."""
        pixels = torch.from_numpy(np.array(pixels)) if isinstance(pixels, np.ndarray) \
            else torch.as_tensor(pixels)
        s = self.image_size
        if pixels.dtype != torch.uint8:
            raise ValueError(f"images must be uint8 [B, {s}, {s}, 3], got dtype {pixels.dtype}")
        if pixels.ndim != 4 or tuple(pixels.shape[1:]) != (s, s, 3):
            raise ValueError(f"images must be uint8 [B, {s}, {s}, 3] (the model's resolution), "
                             f"got {tuple(pixels.shape)}")
        frames = rearrange(pixels.to(self.device), "b h w c -> b c h w").contiguous()
        return Latent(to_float_frames(frames), None)

    def rollout(self, start: Latent, actions: torch.Tensor) -> Latent:
        """Frames ``[N, H, 3, S, S]`` after each step of ``actions [N, H, A]`` from ``start``
        (batch 1 or N); differentiable with respect to ``actions`` when autograd is enabled."""
        check_actions(actions, self.action_dim)
        n, s = actions.shape[0], self.image_size
        if start.batch_size not in (1, n):
            raise ValueError(f"start latent has batch {start.batch_size}; expected 1 or {n}")
        if start.z.ndim != 4 or tuple(start.z.shape[1:]) != (3, s, s):
            raise ValueError(f"start frames must be [B, 3, {s}, {s}] (from encode), "
                             f"got {tuple(start.z.shape)}")
        pred = self.net.predictor
        h = pred.encode(start.z.to(self.device, torch.float32))
        if h.shape[0] != n:
            h = h.expand(n, *h.shape[1:])
        return Latent(pred.rollout_hidden(h, actions.to(self.device, torch.float32)), None)

    @torch.no_grad()
    def decode(self, z: torch.Tensor) -> np.ndarray:
        """Frames ``[H, 3, S, S]`` or ``[B, H, 3, S, S]`` in ``[0, 1]`` -> uint8
        ``[..., S, S, 3]`` (numpy, for videos)."""
        z = torch.as_tensor(z)
        if z.ndim not in (4, 5) or z.shape[-3] != 3:
            raise ValueError(f"frames must be [H, 3, S, S] or [B, H, 3, S, S], "
                             f"got {tuple(z.shape)}")
        pixels = (z.detach().float().clamp(0, 1) * 255).round().to(torch.uint8)
        return rearrange(pixels, "... c h w -> ... h w c").cpu().numpy()


def load_pixel_world_model(path: str | Path, device: str = "auto",
                           task: str | None = None) -> PixelWorldModel:
    """Load a ``wm train model=pixel`` checkpoint as a planner-ready world model.

    Raises ``FileNotFoundError`` for a missing file and ``CheckpointError`` for a checkpoint of
    another kind or task.
    """
    if not Path(path).is_file():
        raise FileNotFoundError(f"pixel world-model checkpoint {str(path)!r} does not exist "
                                f"(train one with `wm train model=pixel`)")
    ckpt = load_checkpoint(path, kind=KIND)
    if task is not None and ckpt["meta"].get("task") != task:
        raise CheckpointError(f"{path} is a pixel world model of task "
                              f"{ckpt['meta'].get('task')!r}, not {task!r}")
    net = build_from_architecture(ckpt["arch"])
    net.load_state_dict(submodule_state(ckpt, "net"))
    return PixelWorldModel(net, ckpt["meta"], resolve_device(device))

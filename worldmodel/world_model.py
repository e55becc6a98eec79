"""The trained action-conditioned world model behind the planner protocol.

Example::

    model = load_world_model("runs/reach/world_model/checkpoint.pt", task="reach")
    start = model.encode(obs["pixels"][None], obs["proprio"][None])
    goal = model.encode(env.render_goal()[None])
    pred = model.rollout(start, actions)       # actions [N, H, A] -> z [N, H, P, D]
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from planners.protocol import Latent, check_actions
from worldmodel.ac_model import KIND, ACWorldModelNet, build_from_architecture
from worldmodel.train.checkpoint import CheckpointError, load_checkpoint
from worldmodel.train.loop import resolve_device

__all__ = ["VJEPAWorldModel", "load_world_model"]


def _tensor(x: np.ndarray | torch.Tensor, device: torch.device) -> torch.Tensor:
    return (torch.from_numpy(np.array(x)) if isinstance(x, np.ndarray) else x).to(device)


class VJEPAWorldModel:
    """:class:`ACWorldModelNet` implementing :class:`planners.protocol.WorldModel`.

    Latents are the frozen encoder's pooled, layer-normed tokens ``[P, D]``; proprio is kept in
    the model's standardised units. ``rollout`` uses the predictor's key/value cache, so a
    horizon-``H`` rollout of ``N`` candidates costs about ``H`` batched single-step predictions.
    """

    def __init__(self, net: ACWorldModelNet, meta: dict[str, Any] | None = None,
                 device: str | torch.device = "cpu"):
        self.device = torch.device(device)
        self.net = net.to(self.device).eval().requires_grad_(False)
        self.meta = meta or {}
        self.action_dim = net.predictor.cfg.action_dim
        self.image_size = net.encoder.image_size

    @torch.no_grad()
    def encode(self, pixels: np.ndarray | torch.Tensor,
               proprio: np.ndarray | torch.Tensor | None = None) -> Latent:
        pixels = _tensor(pixels, self.device)
        if pixels.dtype != torch.uint8:
            raise ValueError(f"images must be uint8 [B, H, W, 3], got dtype {pixels.dtype}")
        z = self.net.encoder.encode_pixels(pixels)
        p = None
        if proprio is not None and self.net.uses_proprio:
            p = _tensor(proprio, self.device).float()
            want = self.net.predictor.cfg.proprio_dim
            if p.shape != (z.shape[0], want):
                raise ValueError(f"proprio must be [B={z.shape[0]}, {want}], "
                                 f"got {tuple(p.shape)}")
            p = self.net.normalize_proprio(p)
        return Latent(z, p)

    def rollout(self, start: Latent, actions: torch.Tensor) -> Latent:
        check_actions(actions, self.action_dim)
        n = actions.shape[0]
        if start.batch_size not in (1, n):
            raise ValueError(f"start latent has batch {start.batch_size}; expected 1 or {n}")
        if self.net.uses_proprio and start.proprio is None:
            raise ValueError("this world model needs the start state's proprio: "
                             "encode(pixels, proprio)")
        if start.batch_size == 1 and n > 1:
            start = start.expand(n)
        z, p = self.net.predictor.rollout(start.z, actions.to(self.device, torch.float32),
                                          start.proprio)
        return Latent(z, p)


def load_world_model(path: str | Path, device: str = "auto",
                     task: str | None = None) -> VJEPAWorldModel:
    """Load a ``wm train`` checkpoint as a planner-ready world model.

    Raises ``CheckpointError`` for a checkpoint of another kind or task.
    """
    ckpt = load_checkpoint(path, kind=KIND)
    if task is not None and ckpt["meta"].get("task") != task:
        raise CheckpointError(f"{path} is a world model of task {ckpt['meta'].get('task')!r}, "
                              f"not {task!r}")
    net: ACWorldModelNet = build_from_architecture(ckpt["arch"])
    state = {k[len("net."):]: v for k, v in ckpt["model"].items() if k.startswith("net.")}
    net.load_state_dict(state)
    return VJEPAWorldModel(net, ckpt["meta"], resolve_device(device))

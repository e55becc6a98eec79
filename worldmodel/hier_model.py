"""The hierarchical world model: a high-level predictor over macro-actions on top of the low level.

One high-level step is ``k`` low-level steps. A :class:`MacroActionAutoencoder` maps the chunk of
``k`` low-level actions taken in those steps to a small latent macro-action in ``[-1, 1]^m`` (and
back, so macro-actions stay tied to real action chunks); the high-level predictor, an
:class:`~worldmodel.ac_model.ACWorldModelNet` whose "actions" are macro-actions, predicts the
latent ``k`` steps later. Both levels share the low level's frozen encoder and latent projection,
so a high-level prediction is a valid goal (a *subgoal*) for the low-level planner.

Example::

    model = load_world_model("runs/pointmaze/hier/checkpoint.pt")   # a HierWorldModel
    start, goal = model.encode(pixels[None], proprio[None]), model.encode(goal_pixels[None])
    coarse = model.high.rollout(start, macros)      # macros [N, H, m] -> z [N, H, P, D]
    fine = model.rollout(start, actions)            # the low level, as any world model
"""
from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import nn

from worldmodel.ac_model import ACWorldModelNet, build_from_architecture
from worldmodel.ac_model import architecture as low_architecture
from worldmodel.models.ac_predictor import ACPredictorConfig

KIND = "hier_world_model"


class MacroActionAutoencoder(nn.Module):
    """Action chunks ``[..., k * A]`` <-> macro-actions ``[..., m]`` in ``[-1, 1]`` (tanh).

    Args:
        chunk_dim: ``k * A``, the flattened chunk of low-level actions.
        macro_dim: ``m``, the size of a macro-action (what the high-level planner searches).
        hidden: width of the two-layer MLPs.
    """

    def __init__(self, chunk_dim: int, macro_dim: int, hidden: int = 128):
        super().__init__()
        if chunk_dim < 1 or macro_dim < 1:
            raise ValueError(f"chunk_dim and macro_dim must be positive, got {chunk_dim}, "
                             f"{macro_dim}")
        self.chunk_dim, self.macro_dim = chunk_dim, macro_dim
        self.encoder = nn.Sequential(nn.Linear(chunk_dim, hidden), nn.GELU(),
                                     nn.Linear(hidden, macro_dim), nn.Tanh())
        self.decoder = nn.Sequential(nn.Linear(macro_dim, hidden), nn.GELU(),
                                     nn.Linear(hidden, chunk_dim), nn.Tanh())

    def encode(self, chunk: torch.Tensor) -> torch.Tensor:
        """Action chunks ``[..., k * A]`` -> macro-actions ``[..., m]``."""
        if chunk.shape[-1] != self.chunk_dim:
            raise ValueError(f"action chunks must have {self.chunk_dim} entries (k x action), "
                             f"got {tuple(chunk.shape)}")
        return self.encoder(chunk)

    def decode(self, macro: torch.Tensor) -> torch.Tensor:
        """Macro-actions ``[..., m]`` -> action chunks ``[..., k * A]`` within ``[-1, 1]``."""
        if macro.shape[-1] != self.macro_dim:
            raise ValueError(f"macro-actions must have {self.macro_dim} entries, "
                             f"got {tuple(macro.shape)}")
        return self.decoder(macro)


class HierarchicalNet(nn.Module):
    """Frozen low level + macro-action autoencoder + high-level predictor.

    Args:
        low: a trained :class:`ACWorldModelNet` (frozen here); its encoder, projection and proprio
            statistics are shared with the high level.
        k: low-level model steps per high-level step.
        high_cfg: the high-level predictor (``action_dim`` = the macro size ``m``).
        rollout_steps / rollout_weight: the high level's rollout loss (as the low level's).
        recon_weight: weight of the chunk reconstruction loss of the macro autoencoder.
        hidden: width of the macro autoencoder's MLPs.
        latent_loss: ``l1`` or ``l2`` on the high level's latent terms (as the low level's).
    """

    def __init__(self, low: ACWorldModelNet, k: int, high_cfg: ACPredictorConfig,
                 rollout_steps: int = 2, rollout_weight: float = 1.0, recon_weight: float = 1.0,
                 hidden: int = 128, latent_loss: str = "l1"):
        super().__init__()
        if isinstance(k, bool) or not isinstance(k, int) or k < 1:
            raise ValueError(f"k (low-level steps per high-level step) must be a positive "
                             f"integer, got {k!r}")
        self.low = low.requires_grad_(False)
        self.k = k
        self.recon_weight = recon_weight
        low_cfg = low.predictor.cfg
        self.macro = MacroActionAutoencoder(k * low_cfg.action_dim, high_cfg.action_dim, hidden)
        proj = low.projection
        self.high = ACWorldModelNet(low.encoder, high_cfg, rollout_steps, rollout_weight,
                                    low.proprio_weight, projection=0 if proj is None else proj.k,
                                    projection_per_token=proj is not None and proj.per_token,
                                    latent_loss=latent_loss)
        self.high.projection = low.projection            # one latent space for both levels
        self.high.proprio_mean.copy_(low.proprio_mean)
        self.high.proprio_std.copy_(low.proprio_std)

    def losses(self, z: torch.Tensor, actions: torch.Tensor,
               proprio: torch.Tensor | None) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Clips of the high level: ``z [B, n, ...]`` ``k`` low steps apart, ``actions
        [B, n-1, k * A]`` (the chunks in between), ``proprio [B, n, p]``. The high-level
        prediction loss trains the predictor and the macro encoder; the reconstruction loss
        keeps macro-actions decodable to the chunks they stand for."""
        macro = self.macro.encode(actions)
        loss, stats = self.high.losses(z, macro, proprio)
        recon = F.l1_loss(self.macro.decode(macro), actions)
        stats["recon_loss"] = recon.detach()
        return loss + self.recon_weight * recon, stats


def architecture(net: HierarchicalNet) -> dict[str, Any]:
    """What a checkpoint must match to be loaded into ``net``."""
    return {"low": low_architecture(net.low), "k": net.k,
            "macro_hidden": net.macro.encoder[0].out_features,
            "high": net.high.predictor.cfg.to_dict()}


def build_from_hier_architecture(arch: dict[str, Any]) -> HierarchicalNet:
    """An uninitialised :class:`HierarchicalNet` with a checkpoint's architecture."""
    return HierarchicalNet(build_from_architecture(arch["low"]), arch["k"],
                           ACPredictorConfig(**arch["high"]), hidden=arch["macro_hidden"])


def split_chunks(chunk: torch.Tensor, k: int) -> torch.Tensor:
    """A flattened macro chunk ``[..., k * A]`` -> ``[..., k, A]`` low-level steps."""
    return rearrange(chunk, "... (k a) -> ... k a", k=k)

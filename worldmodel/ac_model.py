"""The action-conditioned world model: a frozen encoder plus the trained predictor.

:class:`ACWorldModelNet` bundles what a checkpoint holds: the frozen :class:`FrozenEncoder`
(weights included, so a checkpoint stands alone), the :class:`ACPredictor`, and the training set's
proprio statistics (the predictor works on standardised proprio). Its losses are V-JEPA 2-AC's:
teacher forcing plus a short autoregressive rollout, L1 on the layer-normed latents (``latent_loss``
can make the latent terms L2: sparse changes, such as a small pusher moving over a still scene,
give L1 a median of "no change").
"""
from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from worldmodel.latents import FrozenEncoder, LatentProjection
from worldmodel.models.ac_predictor import ACPredictor, ACPredictorConfig
from worldmodel.models.vit import VideoViT, VideoViTConfig

KIND = "ac_world_model"
LATENT_LOSSES = {"l1": F.l1_loss, "l2": F.mse_loss}


class ACWorldModelNet(nn.Module):
    """Frozen encoder + action-conditioned predictor + proprio normalisation.

    Args:
        encoder: the frozen encoder (pooling included).
        predictor_cfg: the predictor's shape (``latent_dim``/``latent_tokens`` must match the
            encoder; ``proprio_dim`` 0 disables the proprio token).
        rollout_steps: ``k`` of the rollout loss (0 disables it).
        rollout_weight / proprio_weight: loss weights of the rollout and proprio terms.
        projection: ``k > 0`` makes the predictor work on the ``k`` principal components of the
            encoder's tokens (:class:`LatentProjection`, one latent token of width ``k``);
            0 = on the tokens themselves.
        projection_per_token: project each token's channels (``P`` latent tokens of width ``k``)
            instead of the whole frame (one token); see :class:`LatentProjection`.
        latent_loss: ``l1`` (V-JEPA 2-AC) or ``l2`` (mean squared error) on the latent terms;
            the proprio terms stay L1.
    """

    def __init__(self, encoder: FrozenEncoder, predictor_cfg: ACPredictorConfig,
                 rollout_steps: int = 2, rollout_weight: float = 1.0,
                 proprio_weight: float = 1.0, projection: int = 0,
                 projection_per_token: bool = False, latent_loss: str = "l1"):
        super().__init__()
        if latent_loss not in LATENT_LOSSES:
            raise ValueError(f"latent_loss must be one of {sorted(LATENT_LOSSES)}, "
                             f"got {latent_loss!r}")
        self.latent_loss = LATENT_LOSSES[latent_loss]
        self.projection = LatentProjection(encoder.num_tokens, encoder.dim, projection,
                                           per_token=projection_per_token) if projection else None
        want = (projection, self.projection.out_tokens) if projection else \
            (encoder.dim, encoder.num_tokens)
        if (predictor_cfg.latent_dim, predictor_cfg.latent_tokens) != want:
            raise ValueError(f"predictor expects {predictor_cfg.latent_tokens} tokens of width "
                             f"{predictor_cfg.latent_dim}, the encoder (projection "
                             f"{projection}) gives {want[1]} x {want[0]}")
        if rollout_steps < 0:
            raise ValueError(f"rollout_steps must be >= 0, got {rollout_steps}")
        self.encoder = encoder
        self.predictor = ACPredictor(predictor_cfg)
        self.rollout_steps = rollout_steps
        self.rollout_weight, self.proprio_weight = rollout_weight, proprio_weight
        p = max(predictor_cfg.proprio_dim, 1)
        self.register_buffer("proprio_mean", torch.zeros(p))
        self.register_buffer("proprio_std", torch.ones(p))

    def to_model_space(self, z: torch.Tensor) -> torch.Tensor:
        """Encoder tokens ``[..., P, D]`` -> the predictor's latents (projected if configured)."""
        return z if self.projection is None else self.projection.project(z)

    def to_token_space(self, c: torch.Tensor) -> torch.Tensor:
        """The predictor's latents -> encoder token space ``[..., P, D]``."""
        return c if self.projection is None else self.projection.reconstruct(c)

    @property
    def uses_proprio(self) -> bool:
        return self.predictor.cfg.proprio_dim > 0

    def set_proprio_stats(self, proprio: torch.Tensor) -> None:
        """Standardise proprio with the mean and std of ``proprio [N, p]`` (std floored)."""
        if not self.uses_proprio:
            return
        self.proprio_mean.copy_(proprio.mean(0))
        self.proprio_std.copy_(proprio.std(0).clamp_min(1e-3))

    def normalize_proprio(self, proprio: torch.Tensor | None) -> torch.Tensor | None:
        if not self.uses_proprio:
            return None
        if proprio is None:
            raise ValueError(f"this world model uses proprio ({self.predictor.cfg.proprio_dim} "
                             f"values) and none was given")
        return (proprio.float() - self.proprio_mean) / self.proprio_std

    def denormalize_proprio(self, proprio: torch.Tensor | None) -> torch.Tensor | None:
        return None if proprio is None else proprio * self.proprio_std + self.proprio_mean

    def losses(self, z: torch.Tensor, actions: torch.Tensor,
               proprio: torch.Tensor | None) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Teacher-forcing + rollout loss of clips ``z [B, n, P, D]``, ``actions [B, n-1, A]``,
        ``proprio [B, n, p]`` (raw; standardised here). Returns ``(loss, stats)``."""
        p = self.normalize_proprio(proprio)
        pred = self.predictor
        z_tf, p_tf = pred(z[:, :-1], actions, None if p is None else p[:, :-1])
        tf = self.latent_loss(z_tf, z[:, 1:])
        # what "nothing moves" would score: a model that learns from actions goes below it
        stats = {"tf_loss": tf.detach(),
                 "tf_repeat_last": self.latent_loss(z[:, :-1], z[:, 1:]).detach()}
        loss = tf
        if p is not None:
            tf_p = F.l1_loss(p_tf, p[:, 1:])
            loss = loss + self.proprio_weight * tf_p
            stats["tf_proprio"] = tf_p.detach()
        k = min(self.rollout_steps, actions.shape[1])
        if k > 0 and self.rollout_weight > 0:
            z_ro, p_ro = pred.rollout(z[:, 0], actions[:, :k], None if p is None else p[:, 0])
            ro = self.latent_loss(z_ro, z[:, 1:k + 1])
            loss = loss + self.rollout_weight * ro
            stats["rollout_loss"] = ro.detach()
            if p is not None:
                loss = loss + self.rollout_weight * self.proprio_weight * \
                    F.l1_loss(p_ro, p[:, 1:k + 1])
        return loss, stats


def architecture(net: ACWorldModelNet) -> dict[str, Any]:
    """What a checkpoint must match to be loaded into ``net``."""
    return {"encoder": net.encoder.encoder.cfg.to_dict(), "pool": net.encoder.pool,
            "blur": net.encoder.blur,
            "projection": 0 if net.projection is None else net.projection.k,
            "projection_per_token": net.projection is not None and net.projection.per_token,
            "predictor": net.predictor.cfg.to_dict()}


def build_from_architecture(arch: dict[str, Any], rollout_steps: int = 2) -> ACWorldModelNet:
    """An uninitialised :class:`ACWorldModelNet` with a checkpoint's architecture."""
    encoder = FrozenEncoder(VideoViT(VideoViTConfig(**arch["encoder"])), pool=arch["pool"],
                            blur=arch.get("blur", 0.0))
    return ACWorldModelNet(encoder, ACPredictorConfig(**arch["predictor"]), rollout_steps,
                           projection=arch.get("projection", 0),
                           projection_per_token=arch.get("projection_per_token", False))

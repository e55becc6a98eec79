"""Adapters from Hydra configs to the learning-side entry points (``wm pretrain``)."""
from __future__ import annotations

from omegaconf import DictConfig, OmegaConf

from worldmodel.config import from_config
from worldmodel.train import TrainConfig


def pretrain_command(cfg: DictConfig) -> dict:
    from worldmodel.pretrain import PretrainConfig, pretrain

    model = OmegaConf.to_container(cfg.model, resolve=True)
    data_dirs = [cfg.data_dir, *cfg.extra_data_dirs]
    pcfg = from_config(PretrainConfig, {**model, "out": cfg.out, "num_frames": cfg.num_frames,
                                        "stride": cfg.stride, "val_fraction": cfg.val_fraction},
                       data_dirs=data_dirs, train=from_config(TrainConfig, cfg.train))
    return pretrain(pcfg)


def train_command(cfg: DictConfig) -> dict:
    """``wm train``: the action-conditioned predictor on a frozen encoder."""
    from worldmodel.ac_train import ACTrainConfig, train_world_model

    model = OmegaConf.to_container(cfg.model, resolve=True)
    name = model.pop("name", "ac")
    if name != "ac":
        raise ValueError(f"model={name} is not available yet; model=ac trains the "
                         f"action-conditioned predictor")
    keys = ("data_dir", "out", "encoder", "encoder_which", "num_frames", "stride",
            "val_fraction", "episodes", "cache", "progress")
    tcfg = from_config(ACTrainConfig, {**model, **{k: cfg[k] for k in keys if k in cfg}},
                       train=from_config(TrainConfig, cfg.train))
    return train_world_model(tcfg)

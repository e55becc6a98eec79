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

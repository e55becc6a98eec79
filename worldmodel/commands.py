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
    """``wm train``: the action-conditioned predictor on a frozen encoder (``model=ac``), the
    high level of a hierarchical model on top of one (``model=hier``), or the pixel baseline
    (``model=pixel``)."""
    model = OmegaConf.to_container(cfg.model, resolve=True)
    name = model.pop("name", "ac")
    train = from_config(TrainConfig, cfg.train)
    common = {k: cfg[k] for k in ("data_dir", "out", "val_fraction", "episodes", "cache",
                                  "progress") if k in cfg}
    if name == "hier":
        from worldmodel.hier_train import HierTrainConfig, train_hier_model

        if not cfg.get("world_model"):
            raise ValueError("model=hier trains on top of a low-level world model: pass "
                             "world_model=runs/<task>/world_model/checkpoint.pt")
        model["num_frames"] = model.pop("high_frames", 4)
        return train_hier_model(from_config(HierTrainConfig, {**model, **common,
                                                              "world_model": cfg.world_model},
                                            train=train))
    if name == "pixel":
        from worldmodel.pixel_train import PixelTrainConfig, train_pixel_model

        keys = ("num_frames", "stride")
        return train_pixel_model(from_config(PixelTrainConfig, {
            **model, **common, **{k: cfg[k] for k in keys if k in cfg}}, train=train))
    if name != "ac":
        raise ValueError(f"unknown model={name}; model=ac trains the action-conditioned "
                         f"predictor, model=hier the high level of a hierarchical model, "
                         f"model=pixel the pixel world-model baseline")
    from worldmodel.ac_train import ACTrainConfig, train_world_model

    keys = ("encoder", "encoder_which", "num_frames", "stride")
    tcfg = from_config(ACTrainConfig, {**model, **common, **{k: cfg[k] for k in keys if k in cfg}},
                       train=train)
    return train_world_model(tcfg)

"""The one training loop shared by V-JEPA pretraining and action-conditioned training:
optimiser and schedule, checkpoints with exact resume, CSV logging, DDP, device/precision."""
from worldmodel.train.loop import TrainConfig, Trainer

__all__ = ["TrainConfig", "Trainer"]

"""V-JEPA model components: video ViT encoder, masking, masked predictor and the JEPA objective."""
from worldmodel.models.jepa import (VJEPA, effective_rank, ema_momentum, ema_update,
                                    group_indices, off_diagonal_correlation, spread_within)
from worldmodel.models.masking import (DEFAULT_MASKS, LONG_RANGE, SHORT_RANGE, MaskSpec,
                                       sample_batch_masks, sample_mask)
from worldmodel.models.positions import sincos_1d, sincos_3d, split_3d
from worldmodel.models.predictor import MaskedPredictor, PredictorConfig
from worldmodel.models.vit import (VIT_PRESETS, VideoViT, VideoViTConfig, count_parameters,
                                   gather_tokens, vit_config)

__all__ = [
    "VJEPA", "effective_rank", "ema_momentum", "ema_update", "group_indices",
    "off_diagonal_correlation", "spread_within",
    "DEFAULT_MASKS", "LONG_RANGE", "SHORT_RANGE", "MaskSpec", "sample_batch_masks", "sample_mask",
    "sincos_1d", "sincos_3d", "split_3d",
    "MaskedPredictor", "PredictorConfig",
    "VIT_PRESETS", "VideoViT", "VideoViTConfig", "count_parameters", "gather_tokens", "vit_config",
]

"""Episodes on disk (:mod:`.storage`) and PyTorch clip datasets over them (:mod:`.dataset`)."""
from worldmodel.data.storage import DatasetError, DatasetMeta, EpisodeStore, load_meta

__all__ = ["DatasetError", "DatasetMeta", "EpisodeStore", "load_meta"]

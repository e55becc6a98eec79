"""From Hydra configs to the plain dataclasses the code runs on, with type checks on the way."""
from __future__ import annotations

import dataclasses
import types
import typing
from typing import Any, TypeVar

T = TypeVar("T")
_SCALARS = {int: (int,), float: (int, float), bool: (bool,), str: (str,)}


def _check(name: str, hint: Any, value: Any) -> Any:
    origin = typing.get_origin(hint)
    options = typing.get_args(hint) if origin in (typing.Union, types.UnionType) else (hint,)
    if value is None and type(None) in options:
        return value
    for option in options:
        if option in _SCALARS:
            ok = isinstance(value, _SCALARS[option]) and not (option is not bool
                                                              and isinstance(value, bool))
            if ok:
                return float(value) if option is float else value
        else:
            return value  # containers and other types are checked by the code that uses them
    expected = " or ".join(getattr(o, "__name__", str(o)) for o in options)
    raise ValueError(f"{name} must be {expected}, got {value!r}")


def from_config(cls: type[T], cfg: Any, **extra: Any) -> T:
    """Build dataclass ``cls`` from a DictConfig/dict, keeping only the fields it declares and
    raising a clear ``ValueError`` when a scalar field has the wrong type (``episodes=two``)."""
    from omegaconf import DictConfig, OmegaConf

    raw = OmegaConf.to_container(cfg, resolve=True) if isinstance(cfg, DictConfig) else dict(cfg)
    hints = typing.get_type_hints(cls)
    kwargs = {}
    for field in dataclasses.fields(cls):
        if field.name in raw:
            kwargs[field.name] = _check(field.name, hints[field.name], raw[field.name])
    kwargs.update(extra)
    return cls(**kwargs)

"""Every method by name, and ``build_method``: a method with its profile's configuration.

    build_method("dpfah", bits=32)                 -> a Method with its quick-profile TrainConfig
    build_method("dah", bits=12, profile="paper", epochs=5, attention=None)
"""

from __future__ import annotations

from ..model.heads import code_lengths
from .baselines import ITQ, LSH
from .config import TrainConfig, resolve_config
from .methods import ADMTH, DAH, DPFAH, DPSH, DSH, Method
from .validation import validate_config

# The three papers, two deep baselines on the same pipeline, two non-deep baselines.
METHODS: dict[str, type[Method]] = {m.name: m for m in (DAH, DPFAH, ADMTH, DPSH, DSH, LSH, ITQ)}


def method_class(name: str) -> type[Method]:
    """The class registered under ``name``; ValueError with the choices otherwise."""
    if name not in METHODS:
        raise ValueError(f"unknown method {name!r}; choose one of {sorted(METHODS)}")
    return METHODS[name]


def model_groups(name: str, bits) -> list[tuple[int, ...]]:
    """The code lengths of each model that learns ``bits``: one model per length, or one for all (ADMTH)."""
    cls = method_class(name)
    bits = code_lengths(bits, increasing=cls.multi_length)
    return [bits] if cls.multi_length else [(b,) for b in bits]


def build_method(name: str, bits, profile: str = "quick", **overrides) -> Method:
    """A method with its profile's configuration; ``overrides`` set any TrainConfig field (nested dicts merge).

    Args:
        name: a key of METHODS.
        bits: one code length, or several (a multi-length method learns them all in one model).
        profile: one of config.PROFILES.
        overrides: TrainConfig fields, e.g. epochs=5, attention=None, loss_weights={"eta": 1.0}.

    Every setting is checked (:func:`validation.validate_config`): ValueError of one line otherwise.
    """
    cls = method_class(name)
    bits = code_lengths(bits, increasing=cls.multi_length)
    if not cls.multi_length and len(bits) != 1:
        raise ValueError(f"{name} learns one code length per model; build one method per length, got {bits}")
    return cls(validate_config(resolve_config(name, bits, profile, **overrides), cls))


def method_for(config: TrainConfig) -> Method:
    """The method a saved configuration describes, exactly as saved (no profile is merged in)."""
    return method_class(config.method)(config)

"""Every setting of a run checked before anything is written, from the types of :class:`config.TrainConfig`.

    parse_setting("augment=false")     ("augment", False): ``--set FIELD=VALUE`` read by the field's type
    check_setting("epochs", 0)         ValueError: one field against its type, range or choices
    validate_config(config, method)    every field, and what depends on several (backbone_kwargs, branches)
    check_model_runs(method, ...)      the model builds, and one batch goes through it and the loss

A refusal is a ValueError of one line that names the field and what it accepts. ``build_method``
calls :func:`validate_config`; ``train`` also calls :func:`check_model_runs` once the data is loaded,
still before its first write.
"""

from __future__ import annotations

import dataclasses
import inspect
import json
import math
import os
import re
import typing

import torch

from ..data.mosaics import MOSAIC_CLASSES
from ..model.attention import ATTENTION
from ..model.backbones import BACKBONES
from .config import PROFILES, BranchSettings, TrainConfig

TYPES = typing.get_type_hints(TrainConfig)  # {"epochs": int, "attention": str | None, ...}

# Fields that a command-line option sets, never --set: the option to use instead.
OPTIONS = {"method": "--method", "bits": "--bits", "profile": "--profile"}

# Fields that take one of a few names.
CHOICES: dict[str, tuple] = {
    "profile": PROFILES,
    "optimizer": ("adam", "rmsprop", "sgd"),
    "lr_schedule": ("constant", "cosine", "warmup_linear"),
    "precision": ("auto", "bf16", "fp16", "fp32"),
    "pairs": ("batch", "memory"),
    "attention": tuple(sorted(ATTENTION)),
    "backbone": tuple(sorted(BACKBONES)),
    "mosaic_classes": tuple(MOSAIC_CLASSES),
}


@dataclasses.dataclass(frozen=True)
class Interval:
    """The numbers from ``low`` to ``high`` (None: unbounded); ``open_low``/``open_high`` exclude the ends."""

    low: float | None = None
    high: float | None = None
    open_low: bool = False
    open_high: bool = False

    def __contains__(self, x: float) -> bool:
        above = self.low is None or (x > self.low if self.open_low else x >= self.low)
        below = self.high is None or (x < self.high if self.open_high else x <= self.high)
        return math.isfinite(x) and above and below

    def __str__(self) -> str:
        if self.high is None:
            return f"{'>' if self.open_low else '>='} {self.low}"
        return f"in {'(' if self.open_low else '['}{self.low}, {self.high}{')' if self.open_high else ']'}"


BELOW_ONE = Interval(0, 1, open_high=True)
RANGES = {
    "epochs": Interval(1), "batch_size": Interval(1), "image_size": Interval(1), "eval_every": Interval(1),
    "seed": Interval(0), "cutout": Interval(0), "lr": Interval(0, open_low=True), "momentum": BELOW_ONE,
    "weight_decay": Interval(0), "grad_clip": Interval(0), "warmup_fraction": BELOW_ONE,
    "label_smoothing": BELOW_ONE, "val_fraction": BELOW_ONE,
}
PATHS = ("data_dir", "input_features")  # text fields that also take a pathlib.Path
EXAMPLES = {"loss_weights": '{"eta": 10.0}', "backbone_kwargs": '{"width": 0.5}',
            "branches": '{"hidden": [256, 256], "split_at": 0}'}


def _optional(name: str) -> bool:
    return type(None) in typing.get_args(TYPES[name])


def _base(name: str) -> type:
    """The field's type without its None: str for ``str | None``, tuple for ``tuple[str, ...]``."""
    kind = TYPES[name]
    if _optional(name):
        kind = next(t for t in typing.get_args(kind) if t is not type(None))
    return typing.get_origin(kind) or kind


def accepted(name: str) -> str:
    """What a field accepts, in words: "an integer >= 1", "one of adam, rmsprop, sgd", "true or false"..."""
    kind = _base(name)
    if name in CHOICES:
        text = f"one of {', '.join(map(str, CHOICES[name]))}"
    elif kind is bool:
        text = "true or false"
    elif kind in (int, float):
        text = f"{'an integer' if kind is int else 'a number'}{f' {RANGES[name]}' if name in RANGES else ''}"
    elif kind in (dict, BranchSettings):
        text = f"a JSON object such as {EXAMPLES[name]}"
    elif kind is tuple:
        text = "a list of names, e.g. [] or name1,name2"
    else:
        text = "text"
    return f"{text} or null" if _optional(name) else text


def _fits(name: str, value) -> bool:
    """Whether ``value`` has the field's type and lies in its range or choices (not the nested checks)."""
    kind = _base(name)
    if value is None:
        return _optional(name)
    if name in CHOICES:
        return value in CHOICES[name]
    if kind is bool:
        return isinstance(value, bool)
    if kind in (int, float):
        number = isinstance(value, int) if kind is int else isinstance(value, (int, float))
        return number and not isinstance(value, bool) and value in RANGES.get(name, Interval())
    if kind is BranchSettings:
        return isinstance(value, (dict, BranchSettings))
    if kind is tuple:
        return isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value)
    if name in PATHS:
        return isinstance(value, (str, os.PathLike))
    return isinstance(value, kind)


def check_setting(name: str, value) -> None:
    """ValueError unless ``value`` fits the TrainConfig field ``name`` (its type, range, choices, nested fields)."""
    if not _fits(name, value):
        shown = value if isinstance(value, str) else json.dumps(value, default=str)
        raise ValueError(f"{name}={shown}: {name} takes {accepted(name)}")
    if name == "loss_weights":
        bad = {k: v for k, v in value.items() if isinstance(v, bool) or not isinstance(v, (int, float))
               or not v >= 0 or not math.isfinite(v)}
        if bad:
            raise ValueError(f"loss_weights={json.dumps(value)}: each weight is a number >= 0, got {bad}")
    if name == "branches" and value is not None:
        _check_branches(value if isinstance(value, dict) else dataclasses.asdict(value))


def _check_branches(branches: dict) -> None:
    fields = {f.name for f in dataclasses.fields(BranchSettings)}
    unknown = set(branches) - fields
    if unknown:
        raise ValueError(f"branches has no field {', '.join(sorted(unknown))}; it takes {', '.join(sorted(fields))}, "
                         f"e.g. {EXAMPLES['branches']}")
    hidden, split_at = branches.get("hidden", BranchSettings.hidden), branches.get("split_at", BranchSettings.split_at)
    if not (isinstance(hidden, (list, tuple)) and all(type(w) is int and w >= 1 for w in hidden)):
        raise ValueError(f"branches: hidden takes a list of layer widths (integers >= 1), got {hidden!r}")
    if type(split_at) is not int or not 0 <= split_at <= len(hidden):
        raise ValueError(f"branches: split_at takes an integer in 0..{len(hidden)} (the layers of hidden the "
                         f"branches share), got {split_at!r}")


def parse_setting(text: str) -> tuple[str, object]:
    """``FIELD=VALUE`` of ``--set``, VALUE read by the field's type and checked (:func:`check_setting`).

    Booleans: true/false/1/0 (any case); integers and numbers; null (or none) for an optional field;
    dicts and ``branches`` as a JSON object; ``departures`` as a JSON list or comma-separated names;
    anything else as text. ValueError of one line otherwise.
    """
    name, sep, value = text.partition("=")
    if name in OPTIONS:
        raise ValueError(f"{name} is set by {OPTIONS[name]}, not --set (e.g. {OPTIONS[name]} "
                         f"{ {'method': 'dpfah', 'bits': '16 32', 'profile': 'demo'}[name]})")
    if not sep or name not in TYPES:
        raise ValueError(f"{text!r} is not FIELD=VALUE with FIELD one of {', '.join(sorted(set(TYPES) - set(OPTIONS)))}")
    parsed = _read(name, value)
    check_setting(name, parsed)
    return name, parsed


def _read(name: str, value: str):
    kind, refused = _base(name), ValueError(f"{name}={value}: {name} takes {accepted(name)}")
    if _optional(name) and value.strip().lower() in ("null", "none"):
        return None
    if kind is bool:
        words = {"true": True, "1": True, "false": False, "0": False}
        if value.strip().lower() not in words:
            raise refused
        return words[value.strip().lower()]
    if kind is int:
        if not re.fullmatch(r"\s*[+-]?\d+\s*", value):
            raise refused
        return int(value)
    if kind is float:
        try:
            return float(value)
        except ValueError:
            raise refused from None
    if kind in (dict, BranchSettings):
        return _json(name, value)
    if kind is tuple:  # departures: a JSON list, or comma-separated names
        parsed = _json(name, value) if value.strip().startswith("[") else [n.strip() for n in value.split(",") if n.strip()]
        return tuple(parsed) if isinstance(parsed, list) else parsed
    return value


def _json(name: str, value: str):
    try:
        return json.loads(value)
    except json.JSONDecodeError as error:
        raise ValueError(f"{name}={value}: not valid JSON ({error.msg} at character {error.pos}); "
                         f"{name} takes {accepted(name)}") from None


def _parameters(factory, skip: tuple[str, ...]) -> dict[str, inspect.Parameter]:
    return {n: p for n, p in inspect.signature(factory).parameters.items() if n not in skip}


def _check_kwargs(what: str, value: dict, parameters: dict[str, inspect.Parameter]) -> None:
    """Names ``parameters`` accepts; values of the type of the parameter's default (when it has one besides None)."""
    unknown = sorted(set(value) - set(parameters))
    if unknown:
        raise ValueError(f"{what} takes no argument {', '.join(map(repr, unknown))}; "
                         f"it takes {', '.join(sorted(parameters)) or 'none'}")
    for key, given in value.items():
        default = parameters[key].default
        if default in (None, inspect.Parameter.empty) or given is None:
            continue
        kind = (int, float) if type(default) in (int, float) else type(default)
        if isinstance(given, bool) != isinstance(default, bool) or not isinstance(given, kind):
            raise ValueError(f"{what}: {key} takes a value like {default!r}, got {given!r}")
        if key == "width" and not given > 0:
            raise ValueError(f"{what}: width takes a number > 0, got {given!r}")


def validate_config(config: TrainConfig, method: type | None = None) -> TrainConfig:
    """``config`` if every field fits (see :func:`check_setting`), and the settings that depend on others do:
    ``backbone_kwargs`` are arguments of the backbone's constructor, ``attention_kwargs`` of the attention
    block's, ``branches`` is set for a multi-length method, Nesterov momentum has a momentum. ``method``
    (a Method class) checks its own departures and loss weights when it is built.

    Raises:
        ValueError: one line naming the field and what it accepts.
    """
    for field in dataclasses.fields(config):
        if field.name != "bits":
            check_setting(field.name, getattr(config, field.name))
    if not (config.bits and all(type(b) is int and b >= 1 for b in config.bits)):
        raise ValueError(f"bits takes code lengths (integers >= 1), got {list(config.bits)}")
    kwargs = dict(config.backbone_kwargs)
    _check_kwargs(f"backbone_kwargs: {config.backbone}", kwargs, _parameters(BACKBONES[config.backbone], ("attention",)))
    attention_kwargs = kwargs.get("attention_kwargs") or {}
    if config.attention is not None and isinstance(attention_kwargs, dict):
        _check_kwargs(f"backbone_kwargs: attention_kwargs: {config.attention}", attention_kwargs,
                      _parameters(ATTENTION[config.attention], ("channels",)))
    if method is not None and getattr(method, "multi_length", False) and config.branches is None:
        raise ValueError(f"{config.method} needs branches, e.g. --set 'branches={EXAMPLES['branches']}'")
    if config.optimizer == "sgd" and config.nesterov and config.momentum == 0:
        raise ValueError("nesterov=true needs a momentum > 0 (got momentum=0); set one, or --set nesterov=false")
    return config


def check_model_runs(method, num_classes: int, multi_label: bool) -> None:
    """Build ``method``'s model and pass two random images of the configured size through it and its loss,
    so that a setting the constructors or the loss refuse fails now, not after the run folder is written.

    Raises:
        ValueError: naming the method, the image size and the reason.
    """
    config = method.config
    labels = torch.arange(2) % num_classes
    labels = torch.eye(num_classes)[labels] if multi_label else labels
    try:  # no gradient; the run's random draws stay as they would be without this check
        with torch.no_grad(), torch.random.fork_rng(devices=[]):
            model = method.build_model(num_classes)
            codes, logits = model(torch.rand(2, 3, config.image_size, config.image_size))
            method.loss(model, codes.float(), None if logits is None else logits.float(), labels)
    except KeyError as error:
        raise ValueError(f"{config.method}'s loss needs loss_weights[{error.args[0]!r}]; add it, e.g. "
                         f"--set 'loss_weights={{\"{error.args[0]}\": 1.0}}'") from error
    except (ValueError, TypeError, RuntimeError, IndexError) as error:
        raise ValueError(f"{config.method} with these settings does not run on {config.image_size}-pixel images "
                         f"(--set image_size): {' '.join(str(error).split())}") from error

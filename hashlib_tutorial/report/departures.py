"""What each report row is measured on, and every way its run departs from its paper, in words.

A protocol's sizes come from the code that draws the splits (:func:`data.protocols.split_indices`,
:data:`data.mosaics.MOSAIC_SIZES`), run on CIFAR-10's composition (5,000 training and 1,000 test
images of each of its 10 classes), never typed. A row's departures are read from its configuration
beside its method's ``paper`` profile (:mod:`training.config`) and from its provenance: random weights
for ImageNet's, the image size, the network, the optimiser, augmentation, a held-out validation
split, ``test_flip``, the autocast dtype, the loss weights and the named departures. The report heads
each protocol's table with the departures that all its trained rows share and lists the rest per row.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from ..data.mosaics import MOSAIC_SIZES
from ..data.protocols import split_indices
from ..training.config import CPU_RECIPE, resolve_config
from ..training.registry import method_class
from ..training.runs import with_defaults
from .findings import network

TRAIN_PER_CLASS, TEST_PER_CLASS, CLASSES = 5_000, 1_000, 10  # CIFAR-10's files: the pool every protocol splits


def group(report: dict) -> tuple[str, str]:
    """A row's (dataset, protocol): rows are comparable only within one."""
    return report.get("dataset", "cifar10"), report["protocol"]


def group_name(dataset: str, protocol: str) -> str:
    """"cifar10-2", "cifar10", "cifar10-mosaic" (the mosaics of the cifar10 protocol's images), "quick"."""
    if dataset == "cifar10":
        return protocol
    return dataset if protocol == "cifar10" else f"{dataset}-{protocol}"


@lru_cache(maxsize=None)
def protocol_sizes(dataset: str, protocol: str) -> dict:
    """Training, query and database sizes of a protocol (no image held out), and how database and training
    set relate: "is", "contains" or "excludes" (the training images)."""
    labels = np.concatenate([np.repeat(np.arange(CLASSES), TRAIN_PER_CLASS), np.repeat(np.arange(CLASSES), TEST_PER_CLASS)])
    split = split_indices(labels, CLASSES * TRAIN_PER_CLASS, protocol, seed=0, val_fraction=0.0)
    train, database = set(split["train"].tolist()), set(split["database"].tolist())
    relation = "is" if train == database else "contains" if train < database else "excludes"
    sizes = {name: len(split[name]) for name in ("train", "query", "database")}
    if dataset == "cifar10-mosaic":  # mosaics drawn from each split's images: the images' relation holds
        sizes = dict(MOSAIC_SIZES[protocol])
    return {**sizes, "relation": relation}


def describe_protocol(dataset: str, protocol: str) -> str:
    """The protocol in one sentence, its sizes from :func:`protocol_sizes`."""
    s = protocol_sizes(dataset, protocol)
    database = {"is": "the database is the training set",
                "contains": "the training images are drawn from the database",
                "excludes": "the database excludes the training images"}[s["relation"]]
    items = "mosaics" if dataset == "cifar10-mosaic" else "images"
    text = (f"`{group_name(dataset, protocol)}`: {s['train']:,} training {items}, {s['query']:,} queries, "
            f"{s['database']:,} database {items}; {database}")
    if dataset == "cifar10-mosaic":
        text += (f" (each split's mosaics are drawn from the images of that split of the `{protocol}` protocol; "
                 "a multi-label stand-in for NUS-WIDE / MS-COCO, not a reproduction)")
    return text + "."


def _optimiser(c: dict) -> str:
    schedule = {"warmup_linear": f"warm-up over {c.get('warmup_fraction', 0):.0%} then linear decay",
                "cosine": "cosine decay", "constant": "constant rate"}.get(c["lr_schedule"], c["lr_schedule"])
    nesterov = " (Nesterov)" if c["optimizer"] == "sgd" and c.get("nesterov") else ""
    return (f"{c['optimizer']}{nesterov} lr {c['lr']:g}, {schedule}, batch {c['batch_size']}, "
            f"weight decay {c.get('weight_decay', 0):g}")


def _recipe_extras(c: dict, paper: dict) -> list[str]:
    """The CPU recipe's settings beside the optimiser that the paper does not use."""
    extras = []
    if c.get("grad_clip") and c.get("grad_clip") != paper.get("grad_clip"):
        extras.append(f"gradient clipping at {c['grad_clip']:g}")
    if c.get("label_smoothing") and c.get("label_smoothing") != paper.get("label_smoothing"):
        extras.append(f"label smoothing {c['label_smoothing']:g}")
    return extras


def _augmentation(c: dict, paper: dict) -> str | None:
    ours = [name for name, on in (("random crop and flip", c.get("augment")), (f"cutout {c.get('cutout')}", c.get("cutout")),
                                  ("TrivialAugment", c.get("trivial_augment"))) if on]
    theirs = "crop and flip" if paper.get("augment") else "none"
    if bool(c.get("augment")) == bool(paper.get("augment")) and not c.get("cutout") and not c.get("trivial_augment"):
        return None
    return f"augmentation: {', '.join(ours) or 'none'} (the `paper` profile: {theirs})"


def departures(report: dict) -> list[str]:
    """Every way the row's run departs from its paper, as short phrases (an empty list: none found)."""
    config, provenance = with_defaults(report.get("config", {})), report.get("provenance", {})  # old rows: defaults
    if not method_class(report["method"]).deep:
        source = config.get("input_features", "pixels").rsplit("/", 1)[-1]
        return ["no training: hashes the pixels" if source == "pixels" else f"no training: hashes the features of row {source}"]
    paper = resolve_config(report["method"], tuple(config["bits"] or [int(b) for b in report["results"]]), "paper").as_saved()
    found = []
    if (paper.get("backbone_kwargs") or {}).get("weights") == "imagenet" and \
            (config.get("backbone_kwargs") or {}).get("weights") != "imagenet":
        found.append("random weights (the `paper` profile: ImageNet's)")
    if config.get("image_size", 32) != paper["image_size"]:
        found.append(f"{config.get('image_size', 32)} px (the `paper` profile: {paper['image_size']} px)")
    ours, theirs = network({**report, "config": {**config, "test_flip": False}}), network({**report, "config": paper})
    stem = (config.get("backbone_kwargs") or {}).get("stem")
    if stem != (paper.get("backbone_kwargs") or {}).get("stem") and stem == "cifar":
        ours += ", CIFAR stem (3x3, stride 1)"
    if ours != theirs:
        found.append(f"network {ours} (the `paper` profile: {theirs})")
    if _optimiser(config) != _optimiser(paper):
        recipe = all(config.get(k) == v for k, v in CPU_RECIPE.items() if k not in ("batch_size", "eval_every", "precision"))
        found.append(f"{'the CPU recipe: ' if recipe else ''}{_optimiser(config)} (the `paper` profile: {_optimiser(paper)})")
    found += _recipe_extras(config, paper)
    if (augmentation := _augmentation(config, paper)) is not None:
        found.append(augmentation)
    if config.get("val_fraction", 0) > 0:
        found.append(f"{config['val_fraction']:.0%} of the training images held out for validation")
    if config.get("test_flip"):
        found.append("codes averaged with the mirror image's (test_flip)")
    autocast = provenance.get("autocast")
    if autocast and autocast != "float32":
        found.append(f"{autocast} autocast")
    elif autocast is None and config.get("precision", "auto") == "auto":
        found.append("autocast dtype not recorded (precision auto: bfloat16 where the CPU has it)")
    if config.get("loss_weights") != paper.get("loss_weights"):
        found.append(f"loss weights {_weights(config.get('loss_weights'))} (the `paper` profile: {_weights(paper.get('loss_weights'))})")
    if config.get("pairs", "batch") != paper.get("pairs", "batch"):
        found.append(f"likelihood pairs: {config['pairs']}")
    found += [f"named departure `{name}`" for name in config.get("departures", ())]
    return found


def _weights(weights: dict | None) -> str:
    return ", ".join(f"{k} {v:g}" for k, v in (weights or {}).items()) or "none"


def shared_departures(reports: list[dict]) -> list[str]:
    """The departures every deep row of ``reports`` has (in the first row's order); none without a deep row."""
    deep = [departures(r) for r in reports if method_class(r["method"]).deep]
    return [d for d in deep[0] if all(d in other for other in deep[1:])] if deep else []

"""Evaluation: encode with a trained model, then every retrieval metric the project reports.

``evaluate_run(RUN_DIR)`` recomputes a run's metrics from its checkpoints and saved splits.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset
from torchvision.transforms.v2 import functional as TF
from tqdm.auto import tqdm

from ..data.datasets import ArrayImages
from ..data.splits import RetrievalSplits, load_data
from ..retrieval import hamming, metrics
from .methods import Method
from .registry import method_for
from .runs import check_saved_splits, load_model, resolve_device, run_config, sub_runs

PRECISION_AT = (1, 10, 50, 100, 200, 500, 1000)


def image_batches(dataset: Dataset, batch_size: int = 256):
    """The images of a dataset in order, a batch at a time.

    Images held in memory (:class:`ArrayImages`) are cut into batches directly and the dataset's
    transform is applied to each whole batch (fast; evaluation transforms are deterministic); other
    datasets go through a DataLoader, one image at a time.
    """
    if isinstance(dataset, ArrayImages):
        size = dataset.image_size
        for start in range(0, len(dataset), batch_size):
            x = torch.from_numpy(dataset.images[start:start + batch_size].copy()).permute(0, 3, 1, 2)  # (B, 3, H, W)
            if size is not None and x.shape[-2:] != (size, size):
                x = TF.resize(x, [size, size], antialias=True)
            yield dataset.transform(x)
    else:
        yield from (images for images, _ in DataLoader(dataset, batch_size=batch_size, shuffle=False))


@torch.no_grad()
def relaxed_codes(model: nn.Module, dataset: Dataset, device: torch.device, batch_size: int = 256,
                  progress: bool = False, desc: str = "encode", flip: bool = False) -> np.ndarray:
    """The model's real-valued outputs u for every image of a dataset, (n, sum K), in dataset order.

    ``flip``: test-time augmentation, u = (u(x) + u(mirror(x))) / 2, which costs a second pass.
    """
    model.eval()
    batches = tqdm(image_batches(dataset, batch_size), desc=desc, total=-(-len(dataset) // batch_size),
                   disable=not progress, leave=False)

    def encode(images: torch.Tensor) -> torch.Tensor:
        u = model(images)[0].float()
        return (u + model(images.flip(3))[0].float()) / 2 if flip else u

    return torch.cat([encode(images.to(device)).cpu() for images in batches]).numpy()


def binary_codes(method: Method, model: nn.Module, dataset: Dataset, device: torch.device,
                 progress: bool = False, desc: str = "encode", flip: bool | None = None) -> dict[int, np.ndarray]:
    """{K: {-1, +1} codes (n, K)} for every code length the method learns (``flip``: the config's test_flip)."""
    flip = method.config.test_flip if flip is None else flip
    u = torch.from_numpy(relaxed_codes(model, dataset, device, progress=progress, desc=desc, flip=flip))
    return {k: method.binarize(v).numpy() for k, v in method.codes_by_length(u).items()}


def retrieval_metrics(query_codes: np.ndarray, db_codes: np.ndarray, query_labels: np.ndarray,
                      db_labels: np.ndarray, topk: int | None = None) -> dict:
    """Every retrieval number the project reports for one code length."""
    args = (query_codes, db_codes, query_labels, db_labels)
    precision, recall = metrics.precision_recall_curve(*args)
    n_values = [n for n in PRECISION_AT if n <= len(db_codes)]
    balance = metrics.bit_balance(db_codes)
    return {
        "mAP": metrics.mean_average_precision(*args, topk=topk),
        "mAP_tie_aware": metrics.mean_average_precision(*args, topk=topk, ties="average"),
        "topk": topk or "all",
        "chance": hamming.chance_level(query_labels, db_labels),
        "precision_radius2": metrics.precision_within_radius(*args, radius=2),
        "precision_at_n": dict(zip(map(str, n_values), metrics.precision_at_n(*args, n_values).tolist())),
        "pr_curve": {"precision": precision.tolist(), "recall": recall.tolist()},
        "bit_balance": {"fraction_ones": balance.fraction_ones.tolist(),
                        "mean_abs_deviation": float(balance.mean_abs_deviation)},
    }


def default_topk(dataset: str) -> int | None:
    """mAP@ALL for single-label data; mAP@5000 for multi-label list data (NUS-WIDE, MS-COCO convention)."""
    return 5000 if dataset == "list" else None


def _pixels(dataset: Dataset) -> np.ndarray:
    """Flattened normalised pixels of every image, (n, 3 S S)."""
    loader = DataLoader(dataset, batch_size=512, shuffle=False)
    return torch.cat([images.flatten(1) for images, _ in loader]).numpy().astype(np.float64)


@torch.no_grad()
def backbone_features(model: nn.Module, dataset: Dataset, device: torch.device) -> np.ndarray:
    """phi(x) of a trained hashing model for every image, (n, D)."""
    model.eval()
    loader = DataLoader(dataset, batch_size=256, shuffle=False)
    return torch.cat([model.backbone(images.to(device)).cpu() for images, _ in loader]).numpy().astype(np.float64)


def feature_extractor(method: Method, num_classes: int, device) -> Callable[[Dataset], np.ndarray]:
    """What a non-deep method hashes: flattened pixels, or the backbone features of a trained run."""
    source = method.config.input_features
    if source == "pixels":
        return _pixels
    if not (Path(source) / "config.json").is_file():
        raise FileNotFoundError(f"input_features={source!r} is neither 'pixels' nor a trained run directory")
    _, model = load_model(next(iter(sub_runs(source).values())), num_classes, device)  # its first code length
    return lambda dataset: backbone_features(model, dataset, device)


def evaluate_method(method: Method, model: nn.Module | None, splits: RetrievalSplits, device: torch.device,
                    progress: bool = False) -> dict[str, dict]:
    """Encode the query and database sets and compute every metric, {"<K>": {...}} per code length.

    ``model`` is None for a non-deep method, which must be fitted already. The encode time is the
    wall time to hash the query set, per image (batch 256, on ``device``). With the config's test_flip,
    ``mAP_one_view`` is the mAP of the codes of the images alone (what the flip buys).
    """
    topk = default_topk(splits.dataset)
    if method.deep:
        started = time.time()
        query = binary_codes(method, model, splits.query, device, progress, "encode query")
        seconds = time.time() - started
        database = binary_codes(method, model, splits.database, device, progress, "encode database")
    else:
        features = feature_extractor(method, splits.num_classes, device)
        started = time.time()
        query = {method.config.bits[0]: method.encode(features(splits.query))}
        seconds = time.time() - started
        database = {method.config.bits[0]: method.encode(features(splits.database))}
    labels = splits.labels("query"), splits.labels("database")
    results = {str(k): {**retrieval_metrics(query[k], database[k], *labels, topk),
                        "encode_us_per_image": round(1e6 * seconds / len(splits.query), 1)} for k in query}
    if method.deep and method.config.test_flip:
        one_view = [binary_codes(method, model, split, device, progress, f"encode {name}, one view", flip=False)
                    for name, split in (("query", splits.query), ("database", splits.database))]
        for k in query:
            results[str(k)]["mAP_one_view"] = metrics.mean_average_precision(one_view[0][k], one_view[1][k], *labels,
                                                                             topk=topk)
    return results


def evaluate_run(run_dir: str | Path, progress: bool = True) -> dict:
    """Recompute every metric of a run directory from its checkpoints, on the splits it saved.

    Only the sub-runs that config.json names are read: a leftover <K>bits/ folder is ignored.
    """
    config = run_config(run_dir)
    splits = load_data(config)
    check_saved_splits(Path(run_dir), splits)
    device = resolve_device(config.device)
    results = {}
    for group, sub_run in sub_runs(run_dir).items():
        method, model = method_for(dataclasses.replace(config, bits=group)), None
        if method.deep:
            method, model = load_model(sub_run, splits.num_classes, device)
        else:  # non-deep: refit on the same training images (seeded, deterministic)
            method.fit(feature_extractor(method, splits.num_classes, device)(splits.train))
        results.update(evaluate_method(method, model, splits, device, progress))
    return {"method": config.method, "dataset": config.dataset, "protocol": splits.protocol,
            "profile": config.profile, "results": results}


def format_results(report: dict) -> str:
    """A small table of the headline numbers of a metrics report."""
    lines = [f"{report['method']} on {report['dataset']} ({report['protocol']}), profile {report['profile']}",
             f"{'bits':>5} {'mAP':>7} {'mAP tie-aware':>14} {'P@r<=2':>7} {'P@1000':>7} {'encode us/img':>14}"]
    for bits, r in report["results"].items():
        p1000 = r["precision_at_n"].get("1000", float("nan"))
        lines.append(f"{bits:>5} {r['mAP']:7.4f} {r['mAP_tie_aware']:14.4f} {r['precision_radius2']:7.4f} "
                     f"{p1000:7.4f} {r['encode_us_per_image']:14.1f}")
    return "\n".join(lines)

"""The training loop of one model: ``train_model``, resumable, with DDP and mixed precision fenced off.

Every epoch ends with an atomic ``checkpoint.pt`` in the sub-run directory; ``best.pt`` holds the
weights of the best validation mAP (of the last epoch when ``val_fraction = 0`` leaves no validation
images), ``history.json`` one record per epoch (see :mod:`runs`).
"""

from __future__ import annotations

import math
import os
import time
import warnings
from datetime import timedelta
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
from torch import Tensor, nn
from torch.utils.data import DataLoader, Dataset, DistributedSampler
from tqdm.auto import tqdm

from ..data.augment import BatchAugmenter
from ..data.datasets import ArrayImages
from ..data.splits import RetrievalSplits
from ..model.losses import CodeMemory
from ..retrieval import metrics
from .config import TrainConfig
from .evaluate import binary_codes
from .methods import Method
from .runs import RESTART_REMEDY, check_compatible, load_checkpoint, resolve_device, save_checkpoint, save_json


# ---------------------------------------------------------------------------------------------- setup
def parameter_groups(model: nn.Module, weight_decay: float, decay_norm_and_bias: bool) -> list[dict]:
    """Optimiser parameter groups: weight decay on weight matrices and kernels; on biases and
    normalisation scales (1-D parameters) too only when ``decay_norm_and_bias`` (decaying them only
    shrinks what the next BatchNorm undoes)."""
    params = [p for p in model.parameters() if p.requires_grad]
    if decay_norm_and_bias:
        return [{"params": params, "weight_decay": weight_decay}]
    return [{"params": [p for p in params if p.ndim > 1], "weight_decay": weight_decay},
            {"params": [p for p in params if p.ndim <= 1], "weight_decay": 0.0}]


def _make_optimizer(config: TrainConfig, model: nn.Module) -> torch.optim.Optimizer:
    groups = parameter_groups(model, config.weight_decay, config.decay_norm_and_bias)
    if config.optimizer == "adam":
        return torch.optim.Adam(groups, lr=config.lr)
    if config.optimizer == "rmsprop":
        return torch.optim.RMSprop(groups, lr=config.lr)
    if config.optimizer == "sgd":
        return torch.optim.SGD(groups, lr=config.lr, momentum=config.momentum, nesterov=config.nesterov)
    raise ValueError(f"unknown optimizer {config.optimizer!r}; choose 'adam', 'rmsprop' or 'sgd'")


def lr_factor(schedule: str, step: int, steps: int, warmup_fraction: float = 0.0) -> float:
    """The learning rate at ``step`` of ``steps`` as a fraction of the peak.

    constant: 1; cosine: (1 + cos(pi t / T)) / 2; warmup_linear: rises linearly from 0 over the first
    warmup_fraction T steps, then falls linearly to 0 at T (the one-cycle shape of fast CIFAR recipes).
    """
    t = min(step, steps) / max(1, steps)
    if schedule == "constant":
        return 1.0
    if schedule == "cosine":
        return 0.5 * (1 + math.cos(math.pi * t))
    if schedule == "warmup_linear":
        return t / warmup_fraction if t < warmup_fraction else (1 - t) / max(1e-12, 1 - warmup_fraction)
    raise ValueError(f"unknown lr_schedule {schedule!r}; choose 'constant', 'cosine' or 'warmup_linear'")


def _make_scheduler(config: TrainConfig, optimizer, steps: int):
    lr_factor(config.lr_schedule, 0, steps, config.warmup_fraction)  # refuses an unknown schedule now
    return torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: lr_factor(config.lr_schedule, step, steps, config.warmup_fraction))


def autocast_dtype(precision: str, device: torch.device) -> torch.dtype | None:
    """The autocast dtype of a precision setting, or None for float32.

    "auto": float16 on CUDA (with a gradient scaler), bfloat16 on a CPU with native bfloat16
    instructions (AVX-512 BF16 or AMX), float32 elsewhere. "bf16", "fp16", "fp32" force one.
    """
    if precision == "auto":
        if device.type == "cuda":
            return torch.float16
        native_bf16 = device.type == "cpu" and torch.backends.mkldnn.is_available() and \
            torch.ops.mkldnn._is_mkldnn_bf16_supported()
        return torch.bfloat16 if native_bf16 else None
    choices = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": None}
    if precision not in choices:
        raise ValueError(f"unknown precision {precision!r}; choose 'auto', 'bf16', 'fp16' or 'fp32'")
    return choices[precision]


class _WithIndex(Dataset):
    """A dataset whose items also carry their index: (image, label, index)."""

    def __init__(self, dataset: Dataset):
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int):
        return (*self.dataset[index], index)


def training_batches(config: TrainConfig, train_set: Dataset, sampler=None):
    """(images, labels, indices) batches of the training set, reshuffled and augmented every epoch.

    Images held in memory (CIFAR-10, mosaics) are augmented a batch at a time (:mod:`data.augment`);
    image files go through a DataLoader with per-image transforms, as do DDP runs (their sampler).
    Both have a ``generator`` attribute that seeds the epoch.
    """
    if isinstance(train_set, ArrayImages) and sampler is None:
        return BatchAugmenter(train_set.images, train_set.labels, config.batch_size, config.image_size,
                              config.augment, config.cutout, config.trivial_augment)
    return DataLoader(_WithIndex(train_set), batch_size=config.batch_size, shuffle=sampler is None,
                      sampler=sampler, drop_last=True, generator=torch.Generator())


class CollapsedCodesWarning(RuntimeWarning):
    """Most bits of the codes take one value on (almost) every training image."""


def collapsed_bits(codes, threshold: float = 0.99) -> int:
    """How many bits take one value on at least ``threshold`` of the codes (n, K): max(p_k, 1 - p_k) >= threshold."""
    fraction = metrics.bit_balance(codes).fraction_ones
    return int((np.maximum(fraction, 1 - fraction) >= threshold).sum())


class NonFiniteLossError(FloatingPointError):
    """The loss or its gradient became NaN or infinite: training stops at once instead of learning from NaN."""


# ------------------------------------------------------------------------------------------ training
def unwrap(model: nn.Module) -> nn.Module:
    """The model inside a DistributedDataParallel wrapper, or the model itself."""
    return getattr(model, "module", model)


def distributed() -> tuple[int, int]:
    """(rank, world size); starts the process group when launched by torchrun."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1 and not dist.is_initialized():
        if torch.cuda.is_available():  # one GPU per process, bound before NCCL starts
            torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", 0)))
        # rank 0 validates alone while the others wait at a barrier: allow for a slow validation
        dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo", timeout=timedelta(hours=1))
    return (dist.get_rank(), world) if world > 1 else (0, 1)


def collapsed_lengths(codes: dict[int, np.ndarray], classes: int) -> dict[int, int]:
    """{K: constant bits} for each code length whose binary codes (n, K) have collapsed: more than half
    of its bits take one value on at least 99% of the images (see :func:`collapsed_bits`), and the codes
    take fewer distinct values than there are classes (a few classes may leave most bits constant)."""
    constant = {bits: collapsed_bits(by_image) for bits, by_image in codes.items()}
    return {bits: n for bits, n in constant.items()
            if n > bits // 2 and len(np.unique(codes[bits], axis=0)) < classes}


class EpochCodes:
    """The binary codes of one epoch's training batches, by code length: the collapse check runs on
    them after every epoch, between evaluations too."""

    def __init__(self, method: Method, classes: int):
        self.method, self.classes, self.batches = method, classes, {}

    def add(self, codes: Tensor) -> None:
        """Keep a batch's binary codes (relaxed codes (B, sum of lengths) in)."""
        for bits, relaxed in self.method.codes_by_length(codes.detach()).items():
            self.batches.setdefault(bits, []).append(self.method.binarize(relaxed))  # on the device: no sync per step

    def collapsed(self) -> dict[int, int]:
        """:func:`collapsed_lengths` of the epoch's codes."""
        codes = {bits: torch.cat(batches).cpu().numpy() for bits, batches in self.batches.items()}
        return collapsed_lengths(codes, self.classes)


# What to try when codes collapse, most likely fix first (the named departures are each method's, see its docstring).
COLLAPSE_REMEDY = (
    "a likelihood-only objective (dpsh, admth with departures=[]) from random weights may need its hash layer "
    "standardised (--set departures=normalized_codes) or a class loss (admth: --set departures=class_loss, "
    "or dpfah instead of dpsh); otherwise more steps (--epochs, or a smaller --batch-size on a small dataset) "
    "or a longer warm-up (--set warmup_fraction=0.5). REPRODUCTION.md recipe rows LA-LM measure these."
)


def _warn_collapsed(collapsed: dict[int, int], epoch: int) -> None:
    for bits, constant in collapsed.items():
        warnings.warn(f"{bits}-bit codes have collapsed at epoch {epoch}: {constant} of their {bits} bits take one "
                      "value on at least 99% of the training images, and the codes take fewer distinct values than there "
                      "are classes, so retrieval is near chance. If they stay so, the objective is not learning. "
                      f"To try: {COLLAPSE_REMEDY}", CollapsedCodesWarning, stacklevel=3)


def _validation_map(method: Method, model: nn.Module, splits: RetrievalSplits, device,
                    database: dict[int, np.ndarray]) -> float:
    """mAP@ALL of the validation queries against the training images' codes (never the query set), mean over lengths."""
    queries = binary_codes(method, unwrap(model), splits.val, device)
    return float(np.mean([metrics.mean_average_precision(queries[k], database[k], splits.labels("val"),
                                                         splits.labels("val_database")) for k in queries]))


def train_model(method: Method, splits: RetrievalSplits, run_dir: Path, resume: bool = False,
                progress: bool = True) -> tuple[nn.Module, dict]:
    """Train one model of ``method`` and return it with its best validation weights loaded (the last
    epoch's when ``val_fraction = 0`` leaves no validation images).

    Every epoch ends with an atomic ``checkpoint.pt``; with ``resume=True`` an interrupted run
    continues from it and gives the same result as an uninterrupted one (seeded per epoch). The first
    epoch whose training codes have collapsed warns at once: every epoch's batches (:class:`EpochCodes`)
    and, at evaluated epochs, the training images encoded in eval mode are checked.
    """
    config, run_dir = method.config, Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    rank, world = distributed()
    if rank == 0:  # what a killed run's atomic writes left behind
        for leftover in run_dir.glob("*.tmp"):
            leftover.unlink()
    device = resolve_device(config.device)
    if device.type == "cuda" and world > 1:
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
    torch.manual_seed(config.seed)
    model = method.build_model(splits.num_classes)
    if world > 1 and device.type == "cuda":
        model = nn.SyncBatchNorm.convert_sync_batchnorm(model)  # batch statistics over every GPU's batch
    memory_format = torch.channels_last if config.channels_last else torch.contiguous_format
    model = model.to(device, memory_format=memory_format)
    optimizer = _make_optimizer(config, model)
    sampler = DistributedSampler(splits.train, world, rank, seed=config.seed, drop_last=True) if world > 1 else None
    loader = training_batches(config, splits.train, sampler)
    if len(loader) == 0:
        raise ValueError(f"{len(splits.train)} training images per process make no batch of {config.batch_size}; "
                         "lower --batch-size or use more data")
    scheduler = _make_scheduler(config, optimizer, config.epochs * len(loader))
    amp_dtype = autocast_dtype(config.precision, device)
    scaler = torch.amp.GradScaler(device.type, enabled=amp_dtype == torch.float16)
    # the DPSH likelihood against every training code (DPSH's reference code), or within the batch
    memory = CodeMemory(splits.labels("train"), method.code_widths(), device) if config.pairs == "memory" else None
    validated = len(splits.val) > 0  # val_fraction = 0: no validation images, the last epoch is kept
    state = {"epoch": 0, "best_val_map": -1.0, "best_epoch": 0, "history": []}
    checkpoint = run_dir / "checkpoint.pt"
    if resume and checkpoint.exists():
        saved = load_checkpoint(checkpoint, RESTART_REMEDY)
        check_compatible(saved["config"], config.to_dict(), checkpoint)
        model.load_state_dict(saved["model"])
        optimizer.load_state_dict(saved["optimizer"])
        scheduler.load_state_dict(saved["scheduler"])
        if memory is not None:
            memory.load_state_dict(saved["memory"])
        state = saved["state"]
        print(f"resuming {run_dir} after epoch {state['epoch']}")
    if world > 1:
        model = nn.parallel.DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)
    # the compiled forward pass trains; evaluation and checkpoints use the model itself (same weights)
    forward = torch.compile(model) if config.compile else model

    warned = False  # about collapsed codes, in this process
    for epoch in range(state["epoch"] + 1, config.epochs + 1):
        torch.manual_seed(config.seed * 100_003 + epoch)  # dropout: the same on resume
        loader.generator.manual_seed(config.seed * 100_003 + epoch)  # batch order, augmentation: the same on resume
        if sampler is not None:
            sampler.set_epoch(epoch)
        model.train()
        started, sums, epoch_codes = time.time(), {}, EpochCodes(method, splits.num_classes)
        bar = tqdm(loader, desc=f"{config.method} {'/'.join(map(str, config.bits))} bits, epoch {epoch}/{config.epochs}",
                   disable=not progress or rank != 0, leave=False)
        for step, (images, labels, indices) in enumerate(bar, start=1):
            images = images.to(device, memory_format=memory_format)
            labels = labels.to(device)
            with torch.autocast(device.type, dtype=amp_dtype, enabled=amp_dtype is not None):
                codes, logits = forward(images)  # relaxed codes (B, K), class scores (B, C) or None
            codes, logits = codes.float(), None if logits is None else logits.float()
            epoch_codes.add(codes)
            if memory is not None:  # this batch's rows of U are its new codes (no gradient through U)
                memory.update(indices.to(device), method.codes_by_length(codes.detach()))
            loss, parts = method.loss(unwrap(model), codes, logits, labels, memory)
            if not torch.isfinite(loss):
                raise NonFiniteLossError(
                    f"{config.method}: the loss is {loss.item()} at epoch {epoch}, step {step} "
                    f"({', '.join(f'{k}={v:.4g}' for k, v in parts.items())}); nothing is learned from here on. "
                    f"Train again with a lower --lr (--overwrite), or check the inputs")
            optimizer.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            scaler.unscale_(optimizer)
            grad_norm = nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip or math.inf)
            if not scaler.is_enabled() and not torch.isfinite(grad_norm):  # fp16's scaler skips such steps itself
                raise NonFiniteLossError(
                    f"{config.method}: the loss is finite but its gradient is {grad_norm.item()} at epoch {epoch}, "
                    f"step {step}; a step would fill the weights with NaN. Train again with --set precision=fp32 "
                    f"or --set compile=false (--overwrite) to find the cause")
            scaler.step(optimizer)
            scaler.update()
            scheduler.step()
            for name, value in {"loss": loss.item(), **parts}.items():
                sums[name] = sums.get(name, 0.0) + value
            bar.set_postfix(loss=f"{loss.item():.3f}")
        record = {"epoch": epoch, **{k: round(v / len(loader), 5) for k, v in sums.items()},
                  "seconds": round(time.time() - started, 2)}
        if rank == 0:
            collapsed = epoch_codes.collapsed()  # in training mode: batch statistics, augmented images
            if epoch % config.eval_every == 0 or epoch == config.epochs:
                database = binary_codes(method, unwrap(model), splits.val_database, device)  # training images, eval mode
                collapsed = collapsed or collapsed_lengths(database, splits.num_classes)
                if validated:
                    record["val_mAP"] = round(_validation_map(method, model, splits, device, database), 5)
                if record["val_mAP"] > state["best_val_map"] if validated else epoch == config.epochs:
                    state["best_val_map"], state["best_epoch"] = record.get("val_mAP"), epoch
                    save_checkpoint(run_dir / "best.pt", unwrap(model), config, epoch=epoch)
            if collapsed and not warned:
                _warn_collapsed(collapsed, epoch)  # once per run, at the first epoch either check finds it
                warned = True
            state["epoch"] = epoch
            state["history"].append(record)
            if progress:
                print(" ".join(f"{k}={v}" for k, v in record.items()), flush=True)
            save_checkpoint(checkpoint, unwrap(model), config, optimizer=optimizer.state_dict(),
                            scheduler=scheduler.state_dict(), state=state,
                            **({"memory": memory.state_dict()} if memory is not None else {}))
            save_json(run_dir / "history.json", state["history"])
        if world > 1:
            dist.barrier()

    model = unwrap(model)
    if (run_dir / "best.pt").exists():
        model.load_state_dict(load_checkpoint(run_dir / "best.pt")["model"])
    return model, state

"""Figures for the notebooks: retrieval curves, image grids and retrieval galleries.

Every function draws on matplotlib axes and returns them (or the figure), so a notebook can add a
caption, save it with ``fig.savefig`` and end the cell with ``plt.show()``. Numbers come from
:mod:`hashlib_tutorial.retrieval.metrics` (or a run's ``metrics.json``); nothing here computes a metric.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

WRONG_COLOUR = "red"      # frame of a retrieved image whose label differs from the query's
RIGHT_COLOUR = "green"    # frame of a relevant retrieved image
QUERY_COLOUR = "black"    # frame of the query


def _axes(ax: Axes | None, figsize: tuple[float, float] = (5, 4)) -> Axes:
    """``ax``, or the axes of a new figure."""
    if ax is None:
        _, ax = plt.subplots(figsize=figsize)
    return ax


def as_display_image(image: Any) -> np.ndarray:
    """An image as matplotlib shows it: (H, W, 3) uint8, or float in [0, 1].

    Args:
        image: (H, W, 3) or (3, H, W), uint8 or float in [0, 1], numpy or torch; (H, W) greyscale.
    Returns:
        (H, W, 3) or (H, W) numpy array; a (3, H, W) image is moved to channels last.
    """
    if hasattr(image, "detach"):
        image = image.detach().cpu().numpy()
    image = np.asarray(image)
    if image.ndim == 3 and image.shape[0] in (1, 3) and image.shape[-1] not in (1, 3):
        image = image.transpose(1, 2, 0)       # (3, H, W) -> (H, W, 3)
    if image.ndim == 3 and image.shape[-1] == 1:
        image = image[..., 0]
    if image.ndim not in (2, 3):
        raise ValueError(f"expected an image (H, W, 3), (3, H, W) or (H, W), got shape {image.shape}")
    if image.dtype != np.uint8:
        image = np.clip(image.astype(np.float32), 0.0, 1.0)
    return image


def plot_pr_curves(results: Mapping[str, tuple[Sequence[float], Sequence[float]]], ax: Axes | None = None,
                   title: str | None = "Precision-recall (Hamming ranking)") -> Axes:
    """Precision against recall, one line per method (points: Hamming radius r = 0..K).

    Args:
        results: {label: (precision, recall)}, e.g. ``metrics.json``'s ``pr_curve`` per method, or
            the output of :func:`hashlib_tutorial.retrieval.metrics.precision_recall_curve`.
        ax: axes to draw on; None makes a new figure.
        title: axes title, or None.
    Returns:
        the axes.
    """
    ax = _axes(ax)
    for label, (precision, recall) in results.items():
        ax.plot(recall, precision, marker=".", markersize=4, label=label)
    ax.set(xlabel="recall", ylabel="precision", xlim=(0, 1.02), ylim=(0, 1.02))
    if title:
        ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small")
    return ax


def plot_precision_at_n(results: Mapping[str, Mapping[Any, float]], ax: Axes | None = None,
                        title: str | None = "Precision of the top N") -> Axes:
    """P@N against N (log scale), one line per method.

    Args:
        results: {label: {N: P@N}}; N may be a string (as in ``metrics.json``) or an int.
        ax: axes to draw on; None makes a new figure.
        title: axes title, or None.
    Returns:
        the axes.
    """
    ax = _axes(ax)
    for label, by_n in results.items():
        ns = sorted(int(n) for n in by_n)
        values = {int(n): p for n, p in by_n.items()}
        ax.plot(ns, [values[n] for n in ns], marker="o", markersize=4, label=label)
    ax.set(xscale="log", xlabel="N (retrieved items)", ylabel="P@N", ylim=(0, 1.02))
    if title:
        ax.set_title(title)
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize="small")
    return ax


def plot_map_vs_bits(results: Mapping[str, Mapping[Any, float]], ax: Axes | None = None,
                     reference: Mapping[str, Mapping[Any, float]] | None = None,
                     title: str | None = "mAP against code length",
                     spread: Mapping[str, Mapping[Any, float]] | None = None) -> Axes:
    """mAP against the code length K, one solid line per method and dashed lines for reference numbers.

    Args:
        results: {label: {K: mAP}} measured here; K may be a string or an int.
        ax: axes to draw on; None makes a new figure.
        reference: {label: {K: mAP}} reported elsewhere (a paper), drawn dashed with open markers.
            Say in the caption that they come from another protocol when they do.
        title: axes title, or None.
        spread: {label: {K: standard deviation}} over seeds, drawn as +-1 sd error bars.
    Returns:
        the axes.
    """
    ax = _axes(ax)
    for style, group in (("-", results), ("--", reference or {})):
        for label, by_bits in group.items():
            ks = sorted(int(k) for k in by_bits)
            values = {int(k): v for k, v in by_bits.items()}
            errors = {int(k): v for k, v in (spread or {}).get(label, {}).items()} if style == "-" else {}
            ax.errorbar(ks, [values[k] for k in ks], yerr=[errors.get(k, 0.0) for k in ks] if errors else None,
                        fmt=style, marker="o", markersize=5, capsize=3,
                        markerfacecolor="none" if style == "--" else None, label=label)
    ax.set(xlabel="code length K (bits)", ylabel="mAP", ylim=(0, 1.02))
    if title:
        ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small")
    return ax


def plot_bit_balance(results: Mapping[str, Sequence[float]], ax: Axes | None = None,
                     title: str | None = "Fraction of +1 per bit (database codes)") -> Axes:
    """The fraction of +1 of every bit, one line of markers per method; 0.5 is a balanced bit.

    Args:
        results: {label: fraction of ones per bit}, e.g. ``bit_balance.fraction_ones`` of ``metrics.json``.
        ax: axes to draw on; None makes a new figure.
        title: axes title, or None.
    Returns:
        the axes.
    """
    ax = _axes(ax, figsize=(6, 3))
    for label, fraction in results.items():
        ax.plot(np.arange(1, len(fraction) + 1), fraction, marker="o", linestyle="none", markersize=4, label=label)
    ax.axhline(0.5, color="grey", linewidth=1, linestyle=":")
    ax.set(xlabel="bit k", ylabel="fraction of +1", ylim=(0, 1))
    if title:
        ax.set_title(title)
    ax.legend(fontsize="small")
    return ax


def plot_embedding(points: np.ndarray, labels: Sequence[int], class_names: Sequence[str] | None = None,
                   ax: Axes | None = None, title: str | None = None) -> Axes:
    """A 2-D embedding (t-SNE, PCA) as a scatter plot, one colour per class.

    Args:
        points: (n, 2) coordinates.
        labels: (n,) class indices.
        class_names: names for the legend, indexed by class; None uses the indices.
        ax: axes to draw on; None makes a new figure.
        title: axes title, or None.
    Returns:
        the axes.
    """
    points, labels = np.asarray(points), np.asarray(labels)
    if points.ndim != 2 or points.shape[1] != 2 or len(points) != len(labels):
        raise ValueError(f"need points (n, 2) and labels (n,), got {points.shape} and {labels.shape}")
    ax = _axes(ax, figsize=(5, 5))
    colours = plt.get_cmap("tab10")
    for c in np.unique(labels):
        mask = labels == c
        name = class_names[c] if class_names is not None else str(c)
        ax.scatter(points[mask, 0], points[mask, 1], s=6, color=colours(int(c) % 10), label=name)
    ax.set_xticks([])
    ax.set_yticks([])
    if title:
        ax.set_title(title)
    return ax


def _frame(ax: Axes, colour: str, linewidth: float, gid: str) -> Rectangle:
    """A rectangle around the whole axes (in axes coordinates), drawn over the image."""
    frame = Rectangle((0, 0), 1, 1, transform=ax.transAxes, fill=False, edgecolor=colour,
                      linewidth=linewidth, clip_on=False, zorder=10, gid=gid)
    ax.add_patch(frame)
    return frame


def image_grid(images: Sequence[Any], titles: Sequence[str] | None = None, ncols: int = 8,
               size: float = 1.3, suptitle: str | None = None) -> Figure:
    """Images in a grid, without ticks, each with an optional title.

    Args:
        images: a sequence of images, see :func:`as_display_image`.
        titles: one title per image, or None.
        ncols: images per row.
        size: inches per image.
        suptitle: a title over the grid, or None.
    Returns:
        the figure; its axes are ``fig.axes`` in reading order (unused cells are hidden).
    """
    if len(images) == 0:
        raise ValueError("image_grid needs at least one image")
    if titles is not None and len(titles) != len(images):
        raise ValueError(f"got {len(titles)} titles for {len(images)} images")
    ncols = min(ncols, len(images))
    nrows = -(-len(images) // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(size * ncols, size * nrows + (0.3 if suptitle else 0)),
                             squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.set_axis_off()
        if i < len(images):
            ax.imshow(as_display_image(images[i]))
            if titles is not None:
                ax.set_title(titles[i], fontsize="small")
    if suptitle:
        fig.suptitle(suptitle)
    fig.tight_layout()
    return fig


def retrieval_gallery(query_image: Any, result_images: Sequence[Any], correct: Sequence[bool],
                      titles: Sequence[str] | None = None, query_title: str = "query",
                      axes: Sequence[Axes] | None = None, size: float = 1.3) -> Figure:
    """One query and its ranked results in a row; wrong results are framed in red, right ones in green.

    Each frame is a :class:`matplotlib.patches.Rectangle` with ``gid`` "wrong", "right" or "query",
    so a test (or a student) can count them.

    Args:
        query_image: the query, see :func:`as_display_image`.
        result_images: the retrieved images, nearest first.
        correct: one bool per result, True when it shares the query's label.
        titles: one title per result (e.g. "d=3\\ncat"), or None for the rank.
        query_title: title of the query image.
        axes: 1 + len(result_images) axes to draw on (a row of a bigger figure), or None for a new figure.
        size: inches per image when a new figure is made.
    Returns:
        the figure.
    """
    if len(correct) != len(result_images):
        raise ValueError(f"got {len(correct)} correct flags for {len(result_images)} result images")
    if titles is not None and len(titles) != len(result_images):
        raise ValueError(f"got {len(titles)} titles for {len(result_images)} result images")
    n = len(result_images) + 1
    if axes is None:
        fig, axes = plt.subplots(1, n, figsize=(size * n, size + 0.5), squeeze=False)
        axes = axes[0]
    elif len(axes) != n:
        raise ValueError(f"need {n} axes (the query and {n - 1} results), got {len(axes)}")
    fig = axes[0].figure
    for ax in axes:
        ax.set_xticks([])
        ax.set_yticks([])
        for spine in ax.spines.values():
            spine.set_visible(False)
    axes[0].imshow(as_display_image(query_image))
    axes[0].set_title(query_title, fontsize="small", fontweight="bold")
    _frame(axes[0], QUERY_COLOUR, 2.0, "query")
    for rank, (ax, image, ok) in enumerate(zip(axes[1:], result_images, correct), start=1):
        ax.imshow(as_display_image(image))
        ax.set_title(titles[rank - 1] if titles is not None else str(rank), fontsize="x-small")
        # wrong results: a thick red frame; right ones: a thin green one
        _frame(ax, WRONG_COLOUR if not ok else RIGHT_COLOUR, 4.0 if not ok else 1.5, "wrong" if not ok else "right")
    return fig


def frames(fig: Figure, gid: str) -> list[Rectangle]:
    """The frames with ``gid`` ("wrong", "right" or "query") that :func:`retrieval_gallery` drew on ``fig``."""
    return [p for ax in fig.axes for p in ax.patches if isinstance(p, Rectangle) and p.get_gid() == gid]

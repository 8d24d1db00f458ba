"""Tests of hashlib_tutorial.plotting and .diagrams: every figure builds with the Agg backend; wrong results are
framed in red; a network diagram has one box per module that ran, attention in colour, parallel heads side by side."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from matplotlib.colors import to_rgba  # noqa: E402
from matplotlib.patches import FancyBboxPatch  # noqa: E402
from torch import nn  # noqa: E402

from hashlib_tutorial import diagrams, plotting  # noqa: E402
from hashlib_tutorial.model.attention import SEBlock, SimAM  # noqa: E402
from hashlib_tutorial.retrieval.metrics import precision_recall_curve  # noqa: E402


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def images(n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (n, 8, 8, 3), dtype=np.uint8)


def test_curves_build_and_draw_one_line_per_method():
    rng = np.random.default_rng(0)
    q, db = rng.choice([-1, 1], (20, 16)), rng.choice([-1, 1], (100, 16))
    pr = precision_recall_curve(q, db, rng.integers(0, 3, 20), rng.integers(0, 3, 100))
    fig, axes = plt.subplots(1, 5)
    plotting.plot_pr_curves({"a": pr, "b": pr}, ax=axes[0])
    plotting.plot_precision_at_n({"a": {"1": 0.9, "10": 0.8, "100": 0.5}}, ax=axes[1])
    plotting.plot_map_vs_bits({"ours": {16: 0.5, 32: 0.6}}, ax=axes[2], reference={"paper": {"16": 0.8, "32": 0.85}})
    plotting.plot_bit_balance({"a": rng.random(16)}, ax=axes[3])
    plotting.plot_embedding(rng.normal(size=(30, 2)), rng.integers(0, 3, 30), ["x", "y", "z"], ax=axes[4])
    fig.canvas.draw()
    assert [len(ax.get_lines()) for ax in axes[:3]] == [2, 1, 2]
    assert axes[2].get_lines()[1].get_linestyle() == "--"


def test_image_grid_accepts_channels_first_and_float_images():
    grid = [np.random.default_rng(1).random((3, 8, 8)), images(1)[0], np.zeros((8, 8, 3), np.float32)]
    fig = plotting.image_grid(grid, titles=["a", "b", "c"], ncols=2)
    fig.canvas.draw()
    assert len(fig.axes) == 4 and fig.axes[0].images[0].get_array().shape == (8, 8, 3)


def test_gallery_frames_exactly_the_wrong_results_in_red():
    correct = [True, False, True, False, False]
    fig = plotting.retrieval_gallery(images(1)[0], images(5, seed=2), correct, titles=list("abcde"))
    fig.canvas.draw()
    red, green = to_rgba("red"), to_rgba("green")
    for ax, ok in zip(fig.axes[1:], correct):
        (frame,) = ax.patches
        assert frame.get_edgecolor() == (green if ok else red)
    assert len(plotting.frames(fig, "wrong")) == 3 and len(plotting.frames(fig, "right")) == 2
    assert len(plotting.frames(fig, "query")) == 1


def test_gallery_draws_into_given_axes_and_checks_its_arguments():
    fig, axes = plt.subplots(2, 4)
    plotting.retrieval_gallery(images(1)[0], images(3), [True, True, False], axes=axes[1])
    assert len(plotting.frames(fig, "wrong")) == 1
    with pytest.raises(ValueError, match="correct flags"):
        plotting.retrieval_gallery(images(1)[0], images(3), [True])
    with pytest.raises(ValueError, match="need 4 axes"):
        plotting.retrieval_gallery(images(1)[0], images(3), [True] * 3, axes=axes[0][:2])


def test_widget_gallery_marks_the_results_of_another_class_wrong():
    from hashlib_tutorial.widgets import RetrievalSet, draw_gallery, gallery_for

    rng = np.random.default_rng(3)
    db_codes = rng.choice([-1, 1], (40, 16))
    db_labels = rng.integers(0, 3, 40)
    data = RetrievalSet({16: db_codes[:5]}, {16: db_codes}, db_labels[:5], db_labels, images(5), images(40),
                        ["a", "b", "c"])
    gallery = gallery_for(2, 16, 6, data)
    assert gallery.indices[0] == 2 and gallery.distances[0] == 0      # the query is in the database
    np.testing.assert_array_equal(gallery.correct, db_labels[gallery.indices] == db_labels[2])
    fig = draw_gallery(gallery, data)
    assert len(plotting.frames(fig, "wrong")) == int((~gallery.correct).sum())


def test_confusion_counts_every_result_and_its_diagonal_is_the_mean_precision():
    from hashlib_tutorial.retrieval.metrics import precision_at_n
    from hashlib_tutorial.widgets import RetrievalSet, confusion, draw_galleries

    rng = np.random.default_rng(4)
    db_codes, db_labels = rng.choice([-1, 1], (40, 16)), rng.integers(0, 3, 40)
    q_codes, q_labels = rng.choice([-1, 1], (6, 16)), rng.integers(0, 3, 6)
    data = RetrievalSet({16: q_codes}, {16: db_codes}, q_labels, db_labels, images(6), images(40), ["a", "b", "c"])
    counts = confusion(16, 5, data)
    assert counts.sum() == 6 * 5 and (counts.sum(axis=1) == 5 * np.bincount(q_labels, minlength=3)).all()
    np.testing.assert_allclose(np.trace(counts) / 30, precision_at_n(q_codes, db_codes, q_labels, db_labels, 5)[0])
    fig = draw_galleries([0, 3], 16, 5, data)
    assert len(fig.axes) == 2 * 6 and len(plotting.frames(fig, "query")) == 2


class TwoHeads(nn.Module):
    """A small network with every case of a diagram: a chain, an attention block, a block holding one,
    an nn.Identity (left out) and two heads reading the same features (drawn side by side)."""

    def __init__(self):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.Identity())
        self.attention = SEBlock(4, reduction=2)
        self.block = nn.Sequential(nn.Conv2d(4, 8, 3, stride=2, padding=1), SimAM())
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.heads = nn.ModuleList([nn.Linear(8, 16), nn.Linear(8, 32)])

    def forward(self, x):
        features = self.pool(self.block(self.attention(self.stem(x)))).flatten(1)
        return torch.cat([head(features) for head in self.heads], dim=1)


def test_network_layers_lists_the_modules_in_order_with_their_shapes_and_parents():
    model = TwoHeads().train()
    layers = diagrams.network_layers(model, (1, 3, 8, 8), depth=2)
    assert [layer.name for layer in layers] == ["stem.0", "stem.1", "attention", "block.0", "block.1", "pool",
                                                "heads.0", "heads.1"]
    assert [layer.shape for layer in layers] == [(4, 8, 8), (4, 8, 8), (4, 8, 8), (8, 4, 4), (8, 4, 4), (8, 1, 1),
                                                 (16,), (32,)]
    assert [layer.parent for layer in layers] == ["input", "stem.0", "stem.1", "attention", "block.0", "block.1",
                                                  "pool", "pool"]
    assert [layer.attention for layer in layers] == ["", "", "is", "", "is", "", "", ""]
    closed = diagrams.network_layers(model, (1, 3, 8, 8), depth=1)   # the block stays closed and holds SimAM
    assert [(layer.name, layer.kind, layer.attention) for layer in closed][:4] == [
        ("stem", "Sequential", ""), ("attention", "SEBlock", "is"), ("block", "Sequential (SimAM)", "holds"),
        ("pool", "AdaptiveAvgPool2d", "")]
    assert model.training and not any(m._forward_hooks for m in model.modules())  # mode back, hooks gone


def test_plot_network_draws_one_box_per_module_attention_coloured_heads_side_by_side():
    model = TwoHeads()
    ax = diagrams.plot_network(model, (1, 3, 8, 8), depth=2)
    boxes = {p.get_gid(): p for p in ax.patches if isinstance(p, FancyBboxPatch)}
    names = [layer.name for layer in diagrams.network_layers(model, (1, 3, 8, 8), depth=2)]
    assert list(boxes) == ["input", *names]
    attention = to_rgba(diagrams.ATTENTION_COLOUR)
    assert [name for name, box in boxes.items() if box.get_facecolor() == attention] == ["attention", "block.1"]
    texts = [t.get_text() for t in ax.texts]
    assert "SEBlock" in texts and "block.0   8 x 4 x 4" in texts and "heads.1   32" in texts
    corner = {name: (box.get_x(), box.get_y()) for name, box in boxes.items()}
    assert corner["heads.0"][1] == corner["heads.1"][1] and corner["heads.0"][0] < corner["heads.1"][0]  # side by side
    assert corner["stem.1"][0] == corner["pool"][0] and corner["stem.1"][1] > corner["pool"][1]  # a straight chain


def test_tie_groups_count_the_items_closer_than_and_at_the_distance_of_the_kth_result():
    from hashlib_tutorial.retrieval.hamming import hamming_distance
    from hashlib_tutorial.widgets import RetrievalSet, draw_galleries, gallery_for, tie_groups

    rng = np.random.default_rng(5)
    db_codes, db_labels = rng.choice([-1, 1], (300, 4)), rng.integers(0, 3, 300)     # 4 bits: large tie groups
    q_codes, q_labels = rng.choice([-1, 1], (7, 4)), rng.integers(0, 3, 7)
    data = RetrievalSet({4: q_codes}, {4: db_codes}, q_labels, db_labels, images(7), images(300), ["a", "b", "c"])
    for k in (1, 10, 300):
        closer, tied = tie_groups(4, k, data)
        for q in range(7):
            distances = hamming_distance(q_codes[q:q + 1], db_codes)[0]
            kth = np.sort(distances)[k - 1]                                          # brute force
            assert (closer[q], tied[q]) == ((distances < kth).sum(), (distances == kth).sum())
            gallery = gallery_for(q, 4, k, data)
            assert (gallery.closer, gallery.tied) == (closer[q], tied[q]) and gallery.distances[-1] == kth
            assert gallery.closer < k <= gallery.closer + gallery.tied
    with pytest.raises(ValueError, match="k must be"):
        tie_groups(4, 301, data)
    fig = draw_galleries([0], 4, 10, data)
    assert "tied at d=" in fig.axes[0].get_ylabel()

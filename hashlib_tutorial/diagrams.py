"""Diagrams of a network drawn from its own layers, so that a figure stays true when the code changes.

:func:`network_layers` runs one forward pass with forward hooks and lists the modules that ran, each
with its output shape and the module whose output it read; :func:`plot_network` draws that list as a
chain of boxes, top to bottom, with parallel branches (ADMTH's one branch per code length, DPFAH's
hash and class branches) side by side.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import matplotlib.pyplot as plt
import torch
from matplotlib.axes import Axes
from matplotlib.patches import FancyBboxPatch, Patch
from torch import Tensor, nn

from .model.attention import ATTENTION
from .model.backbones import StemAttention

ATTENTION_TYPES: tuple[type[nn.Module], ...] = (*ATTENTION.values(), StemAttention)
ATTENTION_COLOUR = "#f4a261"      # an attention block
HOLDS_ATTENTION_COLOUR = "#fde4cc"  # a block with attention blocks inside it
LAYER_COLOUR = "#e3ebf3"          # any other module
INPUT = "input"                   # the name of the input's box


@dataclass(frozen=True)
class Layer:
    """One box of the diagram: a module that ran in the forward pass.

    Attributes:
        name: the module's qualified name in the model, e.g. "backbone.stem.0".
        kind: its class name, followed by the attention blocks inside it, e.g. "BasicBlock (CBAM)".
        shape: its output's shape without the batch axis, e.g. (16, 32, 32).
        attention: "is" for an attention block, "holds" for a module with one inside, "" otherwise.
        parent: the name of the box whose output it read ("input" for the model's input).
    """

    name: str
    kind: str
    shape: tuple[int, ...]
    attention: str
    parent: str


def _first_tensor(value) -> Tensor | None:
    if isinstance(value, Tensor):
        return value
    if isinstance(value, (tuple, list)):
        return next((v for v in value if isinstance(v, Tensor)), None)
    return None


def _boxes(module: nn.Module, name: str, level: int, depth: int, attention: tuple[type, ...]):
    """(name, module) of every box: open a module while above ``depth``; attention blocks stay closed."""
    if isinstance(module, nn.Identity) or (isinstance(module, (nn.Sequential, nn.ModuleList)) and len(module) == 0):
        return  # an option switched off, or an empty container: nothing to draw
    children = list(module.named_children())
    opened = children and not isinstance(module, attention) and (level < depth or isinstance(module, nn.ModuleList))
    if not opened:
        yield name, module
        return
    for child_name, child in children:
        yield from _boxes(child, f"{name}.{child_name}" if name else child_name, level + 1, depth, attention)


def network_layers(model: nn.Module, input_shape: Sequence[int], depth: int = 3,
                   attention: tuple[type[nn.Module], ...] = ATTENTION_TYPES) -> list[Layer]:
    """The modules that run in one forward pass of a zeros tensor, in the order they finish.

    A module is opened into its children while it sits above ``depth`` (the model is level 0, its
    children level 1, ...); attention blocks are never opened, an ``nn.ModuleList`` always (it does not
    run by itself); ``nn.Identity`` and empty containers are left out. A box's parent is the latest box
    whose output shares storage with the box's input (a view such as ``flatten`` counts as the same
    output), so two boxes reading the same tensor become parallel branches; a box whose input no
    box produced (after a residual add, say) follows the box before it. A module's own arithmetic
    between its children (a residual add, a concatenation) is not drawn.

    Args:
        model: any network; it runs once in eval mode without gradients and gets its mode back.
        input_shape: the shape of the zeros input, batch axis included, e.g. (1, 3, 32, 32).
        depth: how many levels of submodules to open.
        attention: the classes drawn as attention blocks (the registry's blocks and DPFAH's stem wrapper).
    Returns:
        one :class:`Layer` per module call.
    """
    parameter = next(model.parameters(), None)
    x = torch.zeros(*input_shape, device=parameter.device if parameter is not None else None)
    records: list[tuple[str, Tensor]] = [(INPUT, x)]  # (name, output), the outputs kept alive
    layers: list[Layer] = []

    def hook(name: str, module: nn.Module):
        def record(_, inputs, output) -> None:
            source, out = _first_tensor(inputs), _first_tensor(output)
            if out is None:
                return
            storage = source.untyped_storage().data_ptr() if source is not None else None
            parent = next((n for n, o in reversed(records) if o.untyped_storage().data_ptr() == storage), records[-1][0])
            inner = sorted({type(m).__name__ for m in module.modules() if isinstance(m, attention) and m is not module})
            kind = type(module).__name__ + (f" ({', '.join(inner)})" if inner else "")
            role = "is" if isinstance(module, attention) else "holds" if inner else ""
            layers.append(Layer(name, kind, tuple(out.shape[1:]), role, parent))
            records.append((name, out))
        return record

    handles = [m.register_forward_hook(hook(n, m)) for n, m in _boxes(model, "", 0, depth, attention)]
    was_training = model.training
    try:
        with torch.no_grad():
            model.eval()(x)
    finally:
        for handle in handles:
            handle.remove()
        model.train(was_training)
    return layers


def _place(layers: list[Layer]) -> tuple[list[int], list[tuple[float, int]]]:
    """Every box's parent (an index, 0 the input, i + 1 ``layers[i]``) and (column, row): a chain goes
    straight down, the branches of a box side by side."""
    names = [INPUT] + [layer.name for layer in layers]
    parents = [-1] + [max(j for j in range(i + 1) if names[j] == layer.parent) for i, layer in enumerate(layers)]
    children: list[list[int]] = [[] for _ in names]
    for i, parent in enumerate(parents[1:], start=1):
        children[parent].append(i)

    def width(i: int) -> int:
        return max(1, sum(width(c) for c in children[i]))

    place: list[tuple[float, int]] = [(0.0, 0)] * len(names)

    def put(i: int, left: float, row: int) -> None:
        place[i] = (left + (width(i) - 1) / 2, row)
        for child in children[i]:
            put(child, left, row + 1)
            left += width(child)

    put(0, 0.0, 0)
    return parents, place


def plot_network(model: nn.Module, input_shape: Sequence[int], depth: int = 3, ax: Axes | None = None,
                 title: str | None = None, attention: tuple[type[nn.Module], ...] = ATTENTION_TYPES) -> Axes:
    """A diagram of ``model``: one box per module of :func:`network_layers`, top to bottom.

    Each box holds the module's class name, its name in the model and its output shape (without the
    batch axis); attention blocks are filled with ``ATTENTION_COLOUR``, modules holding one with
    ``HOLDS_ATTENTION_COLOUR``. Every box is a :class:`~matplotlib.patches.FancyBboxPatch` whose
    ``gid`` is the module's name ("input" for the input), in the order the modules ran.

    Args:
        model, input_shape, depth, attention: as for :func:`network_layers`.
        ax: axes to draw on; None makes a new figure sized to the diagram.
        title: axes title, or None.
    Returns:
        the axes.
    """
    layers = network_layers(model, input_shape, depth, attention)
    parents, place = _place(layers)
    columns, rows = max(c for c, _ in place) + 1, max(r for _, r in place) + 1
    if ax is None:
        _, ax = plt.subplots(figsize=(2.6 * columns, 0.55 * rows + 0.8))
    colours = {"is": ATTENTION_COLOUR, "holds": HOLDS_ATTENTION_COLOUR, "": LAYER_COLOUR}
    boxes = [Layer(INPUT, "input", tuple(input_shape[1:]), "", "")] + layers
    for box, (column, row), parent in zip(boxes, place, parents):
        ax.add_patch(FancyBboxPatch((column - 0.45, -row - 0.36), 0.9, 0.72, boxstyle="round,pad=0,rounding_size=0.08",
                                    facecolor=colours[box.attention], edgecolor="grey", linewidth=0.8, gid=box.name))
        ax.text(column, -row + 0.12, box.kind, ha="center", va="center", fontsize=8, fontweight="bold")
        shape = " x ".join(map(str, box.shape))
        ax.text(column, -row - 0.17, shape if box.name == INPUT else f"{box.name}   {shape}",
                ha="center", va="center", fontsize=6.5, color="dimgrey")
        if parent >= 0:  # an arrow from the bottom of the parent's box to the top of this one
            (x0, r0) = place[parent]
            ax.annotate("", xy=(column, -row + 0.36), xytext=(x0, -r0 - 0.36),
                        arrowprops=dict(arrowstyle="-|>", color="grey", linewidth=0.8, shrinkA=0, shrinkB=0))
    roles = {layer.attention for layer in layers}
    legend = [Patch(facecolor=colours[r], edgecolor="grey", label=label)
              for r, label in (("is", "attention block"), ("holds", "holds attention blocks")) if r in roles]
    if legend:
        ax.legend(handles=legend, loc="lower center", ncol=len(legend), fontsize=7, frameon=False)
    ax.set(xlim=(-0.5, columns - 0.5), ylim=(-rows - 0.3 * bool(legend), 0.5))
    ax.set_axis_off()
    if title:
        ax.set_title(title, fontsize=10)
    return ax

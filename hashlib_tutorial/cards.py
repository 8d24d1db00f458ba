"""Model cards: what a notebook's model is, read from its run folder and nothing else.

    card = model_card(course_run("dpfah", 32))      # a ModelCard; a notebook cell shows it as a table
    card = model_card(run_dir, bits=48, budget_note=report_note("dah", 48))

A card answers the questions a reader cannot see in a figure: which network (backbone, width, stem),
which attention and where it sits, the code length, the method and its departures from the paper, the
protocol with its train / query / database sizes and whether the database holds the training images
(computed from ``splits.npz``), the epochs, the training seconds and the machine (the provenance in
``metrics.json``), the chance level, mAP and tie-aware mAP. A run saved before a field was recorded
shows "not recorded" for it. ``budget_note`` says what a comparison rests on: the seed spread at the
budget shown (:func:`seed_note`) or the report's rows with their own budget (:func:`report_note`).
"""

from __future__ import annotations

import dataclasses
import inspect
import json
from pathlib import Path

import numpy as np

from . import PROJECT_ROOT
from .model.backbones import BACKBONES
from .report.seeds import format_mean_sd, seed_reports, seed_values
from .training.registry import method_class
from .training.runs import read_config, sub_run_of

NOT_RECORDED = "not recorded"
PLACEMENTS = {"stem": "once, after the stem", "blocks": "in every residual block",
              "stages": "after the stem and every stage but the last"}


@dataclasses.dataclass(frozen=True)
class ModelCard:
    """A model's card: (field, value) rows, shown as a Markdown table in a notebook, as text elsewhere.

    Args:
        title: "dpfah, 32 bits".
        rows: (field, value) pairs in the order shown.
        budget_note: what a comparison involving this model rests on, or None.
    """

    title: str
    rows: tuple[tuple[str, str], ...]
    budget_note: str | None = None

    def __getitem__(self, field: str) -> str:
        """The value of ``field`` ("network", "mAP", ...); KeyError names the fields."""
        for name, value in self.all_rows():
            if name == field:
                return value
        raise KeyError(f"no field {field!r}; the card has {[name for name, _ in self.all_rows()]}")

    def all_rows(self) -> tuple[tuple[str, str], ...]:
        return self.rows + ((("comparison", self.budget_note),) if self.budget_note else ())

    def with_note(self, budget_note: str) -> "ModelCard":
        """The same card with ``budget_note`` as its comparison row."""
        return dataclasses.replace(self, budget_note=budget_note)

    def _repr_markdown_(self) -> str:
        cell = lambda text: str(text).replace("|", "\\|").replace("\n", " ")  # noqa: E731
        lines = [f"| model card: {cell(self.title)} | |", "|---|---|"]
        return "\n".join(lines + [f"| {cell(name)} | {cell(value)} |" for name, value in self.all_rows()])

    def __str__(self) -> str:
        rows = self.all_rows()
        width = max(len(name) for name, _ in rows)
        return "\n".join([f"model card: {self.title}"] + [f"  {name:<{width}}  {value}" for name, value in rows])


@dataclasses.dataclass(frozen=True)
class ModelCards:
    """Several cards side by side, one column per model (the fields of the first card, in its order)."""

    cards: tuple[ModelCard, ...]

    def _repr_markdown_(self) -> str:
        cell = lambda text: str(text).replace("|", "\\|").replace("\n", " ")  # noqa: E731
        values = [dict(card.all_rows()) for card in self.cards]
        fields = list(dict.fromkeys(name for card in self.cards for name, _ in card.all_rows()))
        lines = ["| model card | " + " | ".join(cell(card.title) for card in self.cards) + " |",
                 "|---|" + "---|" * len(self.cards)]
        return "\n".join(lines + [f"| {cell(name)} | " + " | ".join(cell(v.get(name, "")) for v in values) + " |"
                                   for name in fields])

    def __str__(self) -> str:
        return "\n\n".join(map(str, self.cards))


def model_cards(*cards: ModelCard) -> ModelCards:
    """Cards side by side: ``model_cards(model_card(a), model_card(b))`` shows one table, a column each."""
    return ModelCards(tuple(cards))


def _relative(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(PROJECT_ROOT))
    except ValueError:
        return str(path)


def _constructor_default(backbone: str, name: str):
    """A backbone's default for argument ``name`` (what the network used when config.json omits it)."""
    if backbone not in BACKBONES:
        return None
    parameter = inspect.signature(BACKBONES[backbone]).parameters.get(name)
    return None if parameter is None or parameter.default is inspect.Parameter.empty else parameter.default


def _network(config: dict, deep: bool) -> tuple[str, str]:
    """(network, attention) rows."""
    if not deep:
        source = config.get("input_features", "pixels")
        return f"none: a linear projection of the {source}, fitted once", "none"
    backbone, kwargs = config["backbone"], config.get("backbone_kwargs") or {}
    parts = [backbone]
    for name in ("width", "stem"):
        value = kwargs.get(name, _constructor_default(backbone, name))
        if value is not None:
            parts.append(f"{name} {value}" + ("" if name in kwargs else " (default)"))
    attention = config.get("attention")
    if attention in (None, "none"):
        return ", ".join(parts), "none"
    placement = kwargs.get("placement", _constructor_default(backbone, "placement"))
    where = PLACEMENTS.get(placement, placement) if placement else "where the backbone puts it"
    return ", ".join(parts), f"{attention}, {where}"


def _departures(config: dict) -> str:
    names = config.get("departures") or []
    described = method_class(config["method"]).departures
    return "; ".join(f"{name}: {described.get(name, '(no description)')}" for name in names) or "none"


def _database_overlap(splits: dict) -> str:
    """Whether the database holds the training images, from the saved indices (rows: one item each)."""
    train, database = splits["train"], splits["database"]
    as_items = lambda a: {tuple(np.atleast_1d(row)) for row in a}  # noqa: E731  (a mosaic is a row of images)
    shared = len(as_items(train) & as_items(database))
    if shared == len(train):
        return f"contains all {len(train):,} training items"
    if shared == 0:
        tiles = "" if train.ndim == 1 else f" (source images shared: {np.isin(train, database).mean():.0%})"
        return f"disjoint from the training items{tiles}"
    return f"contains {shared:,} of the {len(train):,} training items"


def _saved_protocol(run_dir: Path) -> str:
    """The protocol a run was trained on: splits.npz's, else config.json's."""
    path = run_dir / "splits.npz"
    if path.exists():
        with np.load(path) as saved:
            if "protocol" in saved.files:
                return str(saved["protocol"])
    return str(read_config(run_dir).get("protocol"))


def _protocol(run_dir: Path, config: dict) -> tuple[str, str]:
    path = run_dir / "splits.npz"
    if not path.exists():
        return f"{config.get('dataset')}, {config.get('protocol')} (sizes {NOT_RECORDED})", NOT_RECORDED
    with np.load(path) as saved:
        splits = {name: saved[name] for name in saved.files}
    size = lambda name: f"{len(splits[name]):,}" if name in splits else "?"  # noqa: E731
    dataset, protocol = (str(splits.get(key, config.get(key))) for key in ("dataset", "protocol"))  # as trained
    protocol = (f"{dataset}, protocol {protocol}: {size('train')} train "
                f"(+ {size('val')} validation), {size('query')} query, {size('database')} database")
    return protocol, _database_overlap(splits)


def _machine(provenance: dict) -> str:
    hardware = provenance.get("hardware") or {}
    parts = [f"device {provenance.get('device', NOT_RECORDED)}",
             f"cpu {hardware.get('cpu', NOT_RECORDED)}",
             f"cpu_capability {hardware.get('cpu_capability', NOT_RECORDED)}",
             f"autocast {provenance.get('autocast', NOT_RECORDED)}",
             f"threads {provenance.get('threads', NOT_RECORDED)}"]
    if "gpu" in hardware:
        parts.insert(1, f"gpu {hardware['gpu']}")
    return ", ".join(parts)


def _number(value, digits: int = 3) -> str:
    return NOT_RECORDED if value is None else f"{value:.{digits}f}"


def model_card(run_dir: str | Path, bits: int | None = None, budget_note: str | None = None) -> ModelCard:
    """The card of one code length of a trained run, generated from its folder.

    Args:
        run_dir: a run folder written by ``train`` (config.json, metrics.json, splits.npz, <K>bits/).
        bits: K, the code length to describe; None for a run with one length.
        budget_note: what a comparison involving this model rests on (see :func:`seed_note`,
            :func:`report_note`); shown as the card's last row.
    Returns:
        A :class:`ModelCard`; a notebook cell that ends with it shows the table.
    """
    run_dir = Path(run_dir)
    config = read_config(run_dir)
    sub_run, bits = sub_run_of(run_dir, bits)
    metrics = json.loads((run_dir / "metrics.json").read_text())
    result, provenance = metrics["results"].get(str(bits), {}), metrics.get("provenance") or {}
    cls = method_class(config["method"])
    network, attention = _network(config, cls.deep)
    protocol, overlap = _protocol(run_dir, config)
    history_path = sub_run / "history.json"
    history = json.loads(history_path.read_text()) if history_path.exists() else []
    lengths = config["bits"]
    code = f"{bits} bits" + (f" (one model learns {'/'.join(map(str, lengths))})" if cls.multi_length and len(lengths) > 1 else "")
    epochs = f"{config.get('epochs')}" if cls.deep else "none (fitted in closed form)"
    if cls.deep:
        epochs += f" (trained: {len(history) or NOT_RECORDED}, best validation epoch: {result.get('best_epoch', NOT_RECORDED)})"
    seconds = result.get("train_seconds")
    rows = (
        ("run", f"{_relative(run_dir)} (profile {config.get('profile')}, seed {config.get('seed')})"),
        ("method", f"{cls.name} ({cls.paper})"),
        ("departures from the paper", _departures(config)),
        ("network", network),
        ("attention", attention),
        ("code length", code),
        ("protocol", protocol),
        ("database", overlap),
        ("epochs", epochs),
        ("training", (NOT_RECORDED if seconds is None else f"{seconds:,.0f} s") + f" on {_machine(provenance)}"),
        ("chance level", _number(result.get("chance"))),
        ("mAP", _number(result.get("mAP")) + (f" (top {result['topk']})" if "topk" in result else "")),
        ("tie-aware mAP", _number(result.get("mAP_tie_aware"))),
    )
    return ModelCard(title=f"{cls.name}, {bits} bits", rows=rows, budget_note=budget_note)


def seed_note(run_dirs, bits: int) -> str:
    """The seed spread of several runs of one configuration at the budget they were trained with.

    Args:
        run_dirs: run folders that differ only in their seed.
        bits: K.
    Returns:
        "mAP 0.512 +- 0.008 (3 seeds) at 70 epochs, protocol quick"; one run: "mAP 0.621 (1 seed) at ...".
    """
    values = [json.loads((Path(d) / "metrics.json").read_text())["results"][str(bits)]["mAP"] for d in run_dirs]
    budgets = sorted({(read_config(d).get("epochs"), _saved_protocol(Path(d))) for d in run_dirs}, key=str)
    budget = "; ".join(f"{epochs} epochs, protocol {protocol}" for epochs, protocol in budgets)
    spread = format_mean_sd(values) if len(values) > 1 else f"{values[0]:.3f} (1 seed)"
    return f"mAP {spread} at {budget}"


def report_note(label: str, bits: int, profile: str = "cpu") -> str:
    """A pointer to the report's rows ``label`` (every seed), with their own budget and protocol.

    Args:
        label: a row of ``results/<profile>/results.json``, e.g. "dpfah-recipe" (seeds are found as
            ``label-seed1``, ...).
        bits: K.
        profile: whose results: "cpu" is the reproduction report.
    Returns:
        "report rows dpfah-recipe (results/cpu/results.json): mAP 0.418 +- 0.010 (3 seeds) at 20 epochs,
        protocol cifar10 (a different budget and protocol from the model shown)", or says the rows are missing.
    """
    path = PROJECT_ROOT / "results" / profile / "results.json"
    source = f"report rows {label} ({_relative(path)})"
    if not path.exists():
        return f"{source}: {NOT_RECORDED}"
    rows = json.loads(path.read_text())["rows"]
    values = seed_values(rows, label, str(bits))
    if not values:
        return f"{source}: no {bits}-bit results"
    budgets = sorted({(r.get("config", {}).get("epochs"), r.get("protocol")) for r in seed_reports(rows, label)}, key=str)
    budget = "; ".join(f"{epochs} epochs, protocol {protocol}" for epochs, protocol in budgets)
    return f"{source}: mAP {format_mean_sd(values)} at {budget} (their own budget and protocol, not the model shown)"

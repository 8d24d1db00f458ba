"""Model cards: generated from a run folder only, on a committed checkpoint and on a tiny run trained here."""

import json
import shutil

import numpy as np
import pytest

from hashlib_tutorial import PROJECT_ROOT
from hashlib_tutorial.cards import NOT_RECORDED, ModelCard, model_card, model_cards, report_note, seed_note
from hashlib_tutorial.data.augment import make_transforms
from hashlib_tutorial.data.datasets import ArrayImages
from hashlib_tutorial.data.splits import RetrievalSplits
from hashlib_tutorial.training.train import train

CHECKPOINTS = PROJECT_ROOT / "checkpoints" / "quick"
FIELDS = ["run", "method", "departures from the paper", "network", "attention", "code length", "protocol",
          "database", "epochs", "training", "chance level", "mAP", "tie-aware mAP"]


def committed(prefix: str):
    runs = sorted(CHECKPOINTS.glob(f"{prefix}*"))
    if not runs:
        pytest.skip(f"no committed checkpoint {prefix}* in {CHECKPOINTS}")
    return runs[0]


def test_a_committed_checkpoint_has_every_field_from_its_own_files():
    run = committed("dpfah_cifar10_32_")
    card = model_card(run)
    assert [name for name, _ in card.rows] == FIELDS
    config = json.loads((run / "config.json").read_text())
    result = json.loads((run / "metrics.json").read_text())["results"]["32"]
    with np.load(run / "splits.npz") as splits:
        sizes = {name: len(splits[name]) for name in ("train", "val", "query", "database")}
    assert card["mAP"].startswith(f"{result['mAP']:.3f}") and card["chance level"] == f"{result['chance']:.3f}"
    assert card["epochs"].startswith(str(config["epochs"])) and card["code length"] == "32 bits"
    assert f"{sizes['train']:,} train" in card["protocol"] and f"{sizes['database']:,} database" in card["protocol"]
    assert card["database"] == f"contains all {sizes['train']:,} training items"  # the quick protocol's database holds them
    assert "width 0.25" in card["network"] and "stem cifar" in card["network"]
    markdown = card._repr_markdown_()
    assert markdown.splitlines()[1] == "|---|---|" and len(markdown.splitlines()) == len(FIELDS) + 2
    assert str(card).startswith("model card: dpfah, 32 bits")


def test_older_provenance_says_not_recorded_instead_of_failing(tmp_path):
    run = tmp_path / "run"
    shutil.copytree(committed("dah_cifar10_48_"), run)
    metrics = json.loads((run / "metrics.json").read_text())
    metrics["provenance"] = {"device": "cpu"}  # a run saved before hardware, autocast and threads were recorded
    (run / "metrics.json").write_text(json.dumps(metrics))
    (run / "48bits" / "history.json").unlink()
    card = model_card(run)
    assert card["training"].count(NOT_RECORDED) == 4 and NOT_RECORDED in card["epochs"]
    assert card["attention"].startswith("cbam")


def test_a_multi_length_run_and_the_baselines():
    card = model_card(committed("admth_"), bits=32)
    assert "one model learns 16/32/48/64" in card["code length"] and card["attention"].startswith("se")
    assert "class_loss" in card["departures from the paper"]
    with pytest.raises(ValueError, match="choose one with --bits"):
        model_card(committed("admth_"))
    lsh = model_card(committed("lsh_"))
    assert lsh["network"].startswith("none") and lsh["epochs"].startswith("none")


def tiny_splits(database: slice, n: int = 48, size: int = 32) -> RetrievalSplits:
    """Class-coloured noise; the database is ``database`` of the n images (train: the first 24)."""
    rng = np.random.default_rng(0)
    labels = np.arange(n) % 3
    images = np.clip(rng.integers(0, 256, (3, 3))[labels][:, None, None, :] + rng.normal(0, 40, (n, size, size, 3)),
                     0, 255).astype(np.uint8)
    train_t, eval_t = make_transforms(size, augment=True)
    part = lambda sl, t: ArrayImages(images[sl], labels[sl], t, size)  # noqa: E731
    ranges = {"train": slice(0, 24), "val": slice(24, 32), "query": slice(32, 40), "database": database}
    return RetrievalSplits(train=part(ranges["train"], train_t), val=part(ranges["val"], eval_t),
                           query=part(ranges["query"], eval_t), database=part(database, eval_t),
                           val_database=part(ranges["train"], eval_t),
                           indices={k: np.arange(n)[sl] for k, sl in ranges.items()}, num_classes=3,
                           multi_label=False, class_names=["a", "b", "c"], protocol="tiny", dataset="tiny", seed=0)


@pytest.mark.parametrize("database, expected", [(slice(0, 24), "contains all 24 training items"),
                                                (slice(40, 48), "disjoint from the training items"),
                                                (slice(16, 48), "contains 8 of the 24 training items")])
def test_a_tiny_run_has_a_card_and_knows_whether_its_database_holds_the_training_images(tmp_path, database, expected):
    run = tmp_path / "run"
    train("dpsh", 8, run, splits=tiny_splits(database), progress=False, epochs=2, batch_size=8, eval_every=2,
          compile=False, command="test_cards")
    card = model_card(run)
    assert card["database"] == expected
    assert card["epochs"].startswith("2 (trained: 2") and "8 bits" == card["code length"]
    assert "autocast" in card["training"] and "cpu_capability" in card["training"]
    assert NOT_RECORDED not in card["training"].split("autocast")[0].replace("gpu", "")  # new runs record their machine
    note = seed_note([run, run], 8)
    assert note.endswith("at 2 epochs, protocol tiny") and "(2 seeds)" in note
    both = model_cards(card, card.with_note(note))
    assert both._repr_markdown_().splitlines()[0].count("dpsh, 8 bits") == 2 and "comparison" in both._repr_markdown_()


def test_the_budget_note_is_the_last_row_and_report_rows_name_their_budget():
    card = ModelCard("x", (("mAP", "0.5"),), budget_note="see the report")
    assert card.all_rows()[-1] == ("comparison", "see the report") and card["comparison"] == "see the report"
    with pytest.raises(KeyError, match="the card has"):
        card["nothing"]
    if not (PROJECT_ROOT / "results" / "cpu" / "results.json").exists():
        pytest.skip("no results/cpu/results.json")
    note = report_note("dpfah-recipe", 32)
    assert note.startswith("report rows dpfah-recipe (results/cpu/results.json): mAP ") and "epochs, protocol" in note
    assert "no 7-bit results" in report_note("dpfah-recipe", 7)

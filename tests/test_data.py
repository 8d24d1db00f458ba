"""Tests of hashlib_tutorial.data: protocols on synthetic labels, every dataset on tiny files in tmp_path,
and one integration test on the real offline CIFAR-10 (skipped when it is absent)."""

import itertools
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from hashlib_tutorial.data.cifar import DEFAULT_DATA_DIR, load_cifar10_arrays
from hashlib_tutorial.data.datasets import FileImages
from hashlib_tutorial.data.mosaics import (draw_sources, make_mosaics, mosaic_chance_level, mosaic_labels,
                                          mosaic_sources)
from hashlib_tutorial.data.protocols import PROTOCOLS, split_indices
from hashlib_tutorial.data.splits import load_data, load_splits
from hashlib_tutorial.retrieval.hamming import chance_level
from hashlib_tutorial.training.config import TrainConfig
from hashlib_tutorial.training.runs import changed_settings

CIFAR10_CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
# Labels laid out like CIFAR-10: 5,000 training images per class, then 1,000 test images per class.
LABELS = np.concatenate([np.tile(np.arange(10), 5000), np.tile(np.arange(10), 1000)])
N_TRAIN = 50_000
# The labels of the fake_cifar_dir fixture's images: 1,100 train then 100 test images per class.
FAKE_CIFAR_LABELS = np.concatenate([np.tile(np.arange(10), 1100), np.tile(np.arange(10), 100)])

# protocol -> split sizes with val_fraction=0.1, and whether train and val lie inside the database
EXPECTED = {
    "cifar10": ({"query": 1000, "train": 4500, "val": 500, "database": 54000}, False),
    "cifar10-1": ({"query": 1000, "train": 4500, "val": 500, "database": 59000}, True),
    "cifar10-2": ({"query": 10000, "train": 45000, "val": 5000, "database": 50000}, True),
    "quick": ({"query": 500, "train": 4500, "val": 500, "database": 10000}, True),
}


def class_colour(c: int) -> np.ndarray:
    """A colour that identifies class c, so a mosaic quadrant tells which class it shows."""
    return np.array([25 * c, 255 - 25 * c, 100], np.uint8)


@pytest.fixture
def fake_cifar_dir(tmp_path: Path) -> Path:
    """A data_dir whose CIFAR-10 cache holds 12,000 one-colour images: 1,100 train + 100 test per class."""
    labels = FAKE_CIFAR_LABELS
    images = np.stack([np.broadcast_to(class_colour(c), (32, 32, 3)) for c in labels])
    (tmp_path / "cifar10").mkdir()
    np.savez(tmp_path / "cifar10" / "cifar10_uint8.npz", images=images, labels=labels,
             class_names=np.array(CIFAR10_CLASSES), n_train=np.array(11000))
    return tmp_path


def write_image(path: Path, colour: int, size: tuple[int, int] = (24, 20)) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((size[1], size[0], 3), colour, np.uint8)).save(path)


@pytest.fixture
def image_folder(tmp_path: Path) -> Path:
    """train/ with 3 classes x 4 PNGs (20x24) plus one corrupt .jpg; test/ with 3 classes x 2 PNGs."""
    for c, name in enumerate(["cat", "dog", "fox"]):
        for i in range(4):
            write_image(tmp_path / "train" / name / f"{i}.png", 50 * c)
        for i in range(2):
            write_image(tmp_path / "test" / name / f"{i}.png", 50 * c)
    (tmp_path / "train" / "cat" / "broken.jpg").write_bytes(np.random.default_rng(0).bytes(300))
    return tmp_path


@pytest.fixture
def list_layout(tmp_path: Path) -> Path:
    """The NUS-WIDE / MS-COCO list layout: 8 images, 3 labels, train.txt, test.txt, database.txt."""
    rows = ["1 0 0", "0 1 0", "0 0 1", "1 1 0", "0 1 1", "1 0 1", "1 1 1", "1 0 0"]
    for i in range(8):
        write_image(tmp_path / "images" / f"{i}.jpg", 30 * i)
    lines = [f"images/{i}.jpg {row}" for i, row in enumerate(rows)]
    (tmp_path / "train.txt").write_text("\n".join(lines[:4]) + "\n")
    (tmp_path / "test.txt").write_text("\n".join(lines[4:6]) + "\n")
    (tmp_path / "database.txt").write_text("\n".join(lines[:4] + lines[6:]) + "\n")
    return tmp_path


# ---------------------------------------------------------------- protocols, on labels alone
@pytest.mark.parametrize("protocol", sorted(PROTOCOLS))
def test_protocol_sizes_are_stratified_per_class(protocol):
    idx = split_indices(LABELS, N_TRAIN, protocol, seed=0)
    sizes, _ = EXPECTED[protocol]
    for name, size in sizes.items():
        assert len(idx[name]) == len(np.unique(idx[name])) == size, name
        assert (np.bincount(LABELS[idx[name]], minlength=10) == size // 10).all(), name


@pytest.mark.parametrize("protocol", sorted(PROTOCOLS))
def test_protocol_keeps_queries_out_and_val_out_of_train(protocol):
    idx = split_indices(LABELS, N_TRAIN, protocol, seed=0)
    query, database = set(idx["query"]), set(idx["database"])
    train, val = set(idx["train"]), set(idx["val"])
    _, train_in_database = EXPECTED[protocol]
    assert not query & database and not query & (train | val)
    assert not train & val
    assert (train | val <= database) if train_in_database else not (train | val) & database
    if protocol == "cifar10-2":
        assert query == set(range(N_TRAIN, 60_000))


def test_splits_are_seeded():
    first, again = split_indices(LABELS, N_TRAIN, "cifar10", seed=3), split_indices(LABELS, N_TRAIN, "cifar10", seed=3)
    other = split_indices(LABELS, N_TRAIN, "cifar10", seed=4)
    assert all(np.array_equal(first[name], again[name]) for name in first)
    assert not np.array_equal(np.sort(first["query"]), np.sort(other["query"]))


def test_splits_are_not_grouped_by_class():
    # with ties at equal Hamming distance, a class-sorted database would bias mAP
    database = split_indices(np.sort(LABELS), N_TRAIN, "cifar10-2", seed=0)["database"]
    assert (np.diff(np.sort(LABELS)[database]) != 0).sum() > 1000


def test_bad_protocol_arguments_raise_with_the_fix():
    with pytest.raises(ValueError, match="cifar10-1"):
        split_indices(LABELS, N_TRAIN, "cifar-10")
    with pytest.raises(ValueError, match=r"\[0, 1\)"):
        split_indices(LABELS, N_TRAIN, "cifar10", val_fraction=1.0)
    with pytest.raises(ValueError, match="quick"):
        split_indices(np.tile(np.arange(10), 300), 2500, "cifar10")    # 300 images per class: too few
    with pytest.raises(ValueError, match="folder"):
        load_splits("nus-wide")


# ---------------------------------------------------------------- CIFAR-10 sources
def test_cifar10_folder_is_decoded_once_then_read_from_the_cache(tmp_path):
    for split, per_class in (("train", 2), ("test", 1)):
        for c, name in enumerate(["bird", "airplane"]):
            for i in range(per_class):
                write_image(tmp_path / "cifar10" / split / name / f"{i}.png", 100 * c + 10 * i, (32, 32))
    images, labels, class_names, n_train = load_cifar10_arrays(tmp_path)
    assert images.shape == (6, 32, 32, 3) and images.dtype == np.uint8
    assert class_names == ["airplane", "bird"] and n_train == 4
    assert labels.tolist() == [0, 0, 1, 1, 0, 1]                    # train then test, by class then name
    assert images[1, 0, 0, 0] == 110 and images[4, 0, 0, 0] == 100
    for path in (tmp_path / "cifar10").rglob("*.png"):
        path.unlink()
    cached = load_cifar10_arrays(tmp_path)
    assert np.array_equal(cached[0], images) and cached[2] == class_names


def test_missing_cifar10_lists_the_ways_to_provide_it(tmp_path):
    with pytest.raises(FileNotFoundError) as error:
        load_cifar10_arrays(tmp_path)
    for way in ("HASHLIB_DATA_DIR", "cifar10/train/<class>", "tar -xzf cifar10-jpg.tar.gz", "download=True"):
        assert way in str(error.value)


def test_cifar10_items_labels_and_transforms(fake_cifar_dir):
    seen = []

    def record_dtype(image):
        seen.append((image.dtype, tuple(image.shape)))
        return image.float()

    splits = load_splits("cifar10", "quick", data_dir=fake_cifar_dir, image_size=40, train_transform=record_dtype)
    image, label = splits.query[0]
    assert image.shape == (3, 40, 40) and image.dtype == torch.float32 and 0 <= image.min() <= image.max() <= 1
    assert label.dtype == torch.int64 and label.ndim == 0
    assert torch.allclose(image[:, 20, 20] * 255, torch.tensor(class_colour(int(label)), dtype=torch.float32))
    splits.train[0]
    assert seen == [(torch.uint8, (3, 40, 40))]
    assert splits.val_database.images is splits.train.images and splits.val_database[0][0].max() <= 1
    assert [len(splits.labels(name)) for name in ("train", "val", "query", "database")] == [4500, 500, 500, 10000]
    assert int(splits.database[7][1]) == splits.labels("database")[7]
    assert "database" in splits.summary() and "10,000" in splits.summary()
    assert splits.num_classes == 10 and not splits.multi_label and splits.class_names == CIFAR10_CLASSES


def test_saved_indices_round_trip(fake_cifar_dir, tmp_path):
    splits = load_splits("cifar10", "quick", data_dir=fake_cifar_dir, seed=5)
    splits.save_indices(tmp_path / "out" / "splits.npz")
    with np.load(tmp_path / "out" / "splits.npz") as saved:
        assert all(np.array_equal(saved[name], splits.indices[name]) for name in splits.indices)
        assert (str(saved["dataset"]), str(saved["protocol"]), int(saved["seed"])) == ("cifar10", "quick", 5)
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["splits.npz"]      # no temporary file left


REAL_CIFAR = DEFAULT_DATA_DIR / "cifar10"


@pytest.mark.skipif(not ((REAL_CIFAR / "cifar10_uint8.npz").is_file() or (REAL_CIFAR / "train").is_dir()),
                    reason=f"no CIFAR-10 in {REAL_CIFAR}: extract cifar10-jpg.tar.gz there or set HASHLIB_DATA_DIR")
def test_real_cifar10_quick_protocol():
    # the first run decodes the 60,000 JPEGs (about 25 s here) and writes the cache; later runs take < 1 s
    splits = load_splits(protocol="quick")
    image, label = splits.train[0]
    assert image.shape == (3, 32, 32) and label.dtype == torch.int64
    assert set(splits.labels("database")) == set(range(10))
    assert splits.class_names == CIFAR10_CLASSES
    assert (REAL_CIFAR / "cifar10_uint8.npz").is_file()


# ---------------------------------------------------------------- your own folders
def test_folder_dataset_warns_once_for_a_corrupt_file_and_keeps_going(image_folder):
    splits = load_splits("folder", data_dir=image_folder, image_size=16, val_fraction=0.25)
    assert (len(splits.train), len(splits.val), len(splits.query), len(splits.database)) == (10, 3, 6, 13)
    assert splits.class_names == ["cat", "dog", "fox"] and splits.protocol == "files"
    with pytest.warns(UserWarning, match="broken.jpg"):
        items = [splits.database[i] for i in range(len(splits.database))]
    assert all(image.shape == (3, 16, 16) for image, _ in items)
    with warnings.catch_warnings():
        warnings.simplefilter("error")                                  # a second epoch is silent
        [splits.database[i] for i in range(len(splits.database))]


def test_file_images_with_no_readable_file_raises(tmp_path):
    (tmp_path / "a.jpg").write_bytes(b"not an image")
    dataset = FileImages([tmp_path / "a.jpg", tmp_path / "missing.jpg"], np.array([0, 1]), image_size=8)
    with pytest.warns(UserWarning), pytest.raises(OSError, match="none of the 2 images"):
        dataset[0]


def test_folder_layout_errors_name_the_fix(image_folder):
    with pytest.raises(ValueError, match="protocol=None"):
        load_splits("folder", "cifar10", data_dir=image_folder)
    with pytest.raises(ValueError, match=r"train/<class>/<image>"):
        load_splits("folder", data_dir=image_folder / "train")


# ---------------------------------------------------------------- multi-label list files
def test_list_dataset_reads_multi_hot_labels(list_layout):
    splits = load_splits("list", data_dir=list_layout, image_size=12, val_fraction=0.25)
    assert (len(splits.train), len(splits.val), len(splits.query), len(splits.database)) == (3, 1, 2, 6)
    assert splits.multi_label and splits.num_classes == 3
    image, label = splits.query[0]
    assert image.shape == (3, 12, 12) and label.dtype == torch.float32 and label.shape == (3,)
    assert sorted(map(tuple, splits.labels("query"))) == [(0, 1, 1), (1, 0, 1)]


def test_list_dataset_missing_file_and_wrong_label_length(list_layout):
    (list_layout / "database.txt").unlink()
    with pytest.raises(FileNotFoundError, match="database.txt"):
        load_splits("list", data_dir=list_layout)
    (list_layout / "train.txt").write_text("images/0.jpg 1 0 0\nimages/1.jpg 0 1 0\nimages/2.jpg 0 1\n")
    with pytest.raises(ValueError, match="train.txt, line 3"):
        load_splits("list", data_dir=list_layout)


# ---------------------------------------------------------------- mosaics
def test_make_mosaics_places_four_images_and_unions_their_labels():
    labels = np.array([0, 1, 2, 3, 4])
    images = np.stack([np.broadcast_to(class_colour(c), (8, 8, 3)) for c in labels])
    sources = np.array([[0, 1, 2, 3], [4, 4, 0, 2]])
    mosaics, multi_hot = make_mosaics(images, labels, sources, num_classes=6)
    assert mosaics.shape == (2, 16, 16, 3) and multi_hot.dtype == np.float32
    for m in range(2):
        quadrants = [mosaics[m, :8, :8], mosaics[m, :8, 8:], mosaics[m, 8:, :8], mosaics[m, 8:, 8:]]
        for quadrant, source in zip(quadrants, sources[m]):
            assert (quadrant == class_colour(labels[source])).all()
    assert multi_hot.tolist() == [[1, 1, 1, 1, 0, 0], [1, 0, 1, 0, 1, 0]]


def test_mosaic_splits_do_not_leak_queries(fake_cifar_dir):
    splits = load_splits("cifar10-mosaic", "quick", data_dir=fake_cifar_dir, image_size=64)
    assert [len(splits.labels(name)) for name in ("train", "val", "query", "database")] == [1800, 200, 500, 5000]
    image, label = splits.database[3]
    assert image.shape == (3, 64, 64) and label.dtype == torch.float32 and label.shape == (10,)
    # the red channel of class c is 25 c (class_colour); read it at the centre of each quadrant
    quadrant_classes = {round(image[0, y, x].item() * 255 / 25) for y in (16, 48) for x in (16, 48)}
    assert set(np.flatnonzero(label.numpy())) == quadrant_classes
    query_images = set(splits.indices["query"].ravel())
    for name in ("train", "val", "database"):
        assert splits.indices[name].shape[1] == 4 and not query_images & set(splits.indices[name].ravel())
    assert len(load_splits("cifar10-mosaic", "quick", data_dir=fake_cifar_dir).query[0][0][0]) == 32
    with pytest.raises(ValueError, match="quick"):
        load_splits("cifar10-mosaic", "cifar10-2", data_dir=fake_cifar_dir)


def test_mosaics_of_two_classes_show_exactly_two_and_keep_queries_out(fake_cifar_dir, tmp_path):
    splits = load_splits("cifar10-mosaic", "quick", data_dir=fake_cifar_dir, image_size=64, mosaic_classes=2)
    assert splits.mosaic_classes == 2 and "2 classes per mosaic" in splits.summary()
    for name in ("train", "val", "query", "database"):
        sources = splits.indices[name]
        assert sources.shape[1] == 4 and all(len(set(row)) == 2 for row in FAKE_CIFAR_LABELS[sources]), name
        assert (splits.labels(name).sum(axis=1) == 2).all() and set(np.unique(splits.labels(name))) == {0, 1}, name
    # the quadrants show the labelled classes (class_colour's red channel is 25 c)
    image, label = splits.database[0]
    quadrant_classes = {round(image[0, y, x].item() * 255 / 25) for y in (16, 48) for x in (16, 48)}
    assert quadrant_classes == set(np.flatnonzero(label.numpy()))
    query_images = set(splits.indices["query"].ravel())
    assert not any(query_images & set(splits.indices[name].ravel()) for name in ("train", "val", "database"))
    config = TrainConfig(method="admth", bits=(16,), dataset="cifar10-mosaic", protocol="quick",
                         data_dir=str(fake_cifar_dir), mosaic_classes=2)
    from_config = load_data(config)                                  # the config field reaches the data
    assert all(np.array_equal(from_config.indices[name], splits.indices[name]) for name in splits.indices)
    splits.save_indices(tmp_path / "run" / "splits.npz")
    with np.load(tmp_path / "run" / "splits.npz") as saved:
        assert int(saved["mosaic_classes"]) == 2


@pytest.mark.parametrize("classes", [None, 1, 2, 3, 4])
def test_mosaic_sources_are_seeded(classes):
    first, again = (mosaic_sources(LABELS, N_TRAIN, "quick", seed=3, classes=classes) for _ in range(2))
    other = mosaic_sources(LABELS, N_TRAIN, "quick", seed=4, classes=classes)
    assert all(np.array_equal(first[name], again[name]) for name in first)
    assert not np.array_equal(first["database"], other["database"])


def test_mosaic_sources_without_mosaic_classes_are_four_random_tiles_as_before():
    # the pre-mosaic_classes draw, written out: runs and committed checkpoints keep their splits
    images_of = split_indices(LABELS, N_TRAIN, "quick", seed=2)
    rng = np.random.default_rng([2, 1])
    sizes = {"train": 1800, "val": 200, "query": 500, "database": 5000}
    expected = {name: rng.choice(images_of[name], size=(sizes[name], 4)) for name in images_of}
    drawn = mosaic_sources(LABELS, N_TRAIN, "quick", seed=2)
    assert all(np.array_equal(drawn[name], expected[name]) for name in expected)


@pytest.mark.parametrize("classes", [1, 2, 3, 4])
def test_mosaic_chance_level_is_the_fraction_of_class_sets_that_intersect(classes):
    # by hand over every pair of k-sets of 10 classes: k = 2 gives 1 - C(8, 2) / C(10, 2) = 17/45
    sets = [set(s) for s in itertools.combinations(range(10), classes)]
    brute_force = sum(bool(a & b) for a in sets for b in sets) / len(sets) ** 2
    assert mosaic_chance_level(classes) == pytest.approx(brute_force)


def test_mosaics_of_two_classes_have_a_chance_level_near_17_over_45():
    rng, pool = np.random.default_rng(0), np.arange(len(LABELS))
    query, database = (mosaic_labels(LABELS, draw_sources(pool, LABELS, n, rng, classes=2), 10) for n in (2000, 5000))
    assert chance_level(query, database) == pytest.approx(17 / 45, abs=0.02)
    assert mosaic_chance_level(2) == pytest.approx(17 / 45)
    four_random_tiles = mosaic_labels(LABELS, draw_sources(pool, LABELS, 2000, rng), 10)
    assert chance_level(four_random_tiles, four_random_tiles) > 0.75          # what k = 2 is for


def test_bad_mosaic_classes_raise_with_the_choices(fake_cifar_dir):
    for bad in (0, 5, True, 2.0):
        with pytest.raises(ValueError, match=r"mosaic_classes must be one of \[1, 2, 3, 4\]"):
            mosaic_sources(LABELS, N_TRAIN, "quick", classes=bad)
    with pytest.raises(ValueError, match="cifar10-mosaic dataset only"):
        load_splits("cifar10", "quick", data_dir=fake_cifar_dir, mosaic_classes=2)
    with pytest.raises(ValueError, match="cifar10-mosaic dataset only"):
        load_data(TrainConfig(method="admth", bits=(16,), data_dir=str(fake_cifar_dir), mosaic_classes=2))


def test_a_config_saved_before_mosaic_classes_matches_the_default():
    wanted = TrainConfig(method="admth", bits=(16,), dataset="cifar10-mosaic").as_saved()
    saved = {k: v for k, v in wanted.items() if k != "mosaic_classes"}
    assert changed_settings(saved, wanted) == []
    assert changed_settings(saved, {**wanted, "mosaic_classes": 2}) == ["mosaic_classes None -> 2"]


def test_val_fraction_zero_trains_on_every_protocol_image_and_keeps_query_and_database():
    with_val, without = (split_indices(LABELS, N_TRAIN, "cifar10", seed=0, val_fraction=f) for f in (0.1, 0.0))
    assert len(without["val"]) == 0 and len(without["train"]) == 5000
    assert set(without["train"]) == set(with_val["train"]) | set(with_val["val"])
    for name in ("query", "database"):
        assert np.array_equal(without[name], with_val[name])


@pytest.mark.parametrize("classes", [None, 2])
def test_mosaics_with_val_fraction_zero_train_on_every_mosaic(classes):
    with_val, without = (mosaic_sources(LABELS, N_TRAIN, "cifar10", 0, f, classes) for f in (0.1, 0.0))
    assert without["val"].shape == (0, 4)
    assert len(without["train"]) == len(with_val["train"]) + len(with_val["val"])

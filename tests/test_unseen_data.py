"""Every deep method's default profile learns on a small dataset it never saw (issue: a baseline that died on a
user's data). The data are synthetic shapes (tests/synthetic_folder.py), written as an ImageFolder, and each
method trains with its quick profile as it is. Each must end well above chance without a collapse warning; DPSH's
likelihood alone learns slowest from random weights (recipe rows LA and LM: near chance after 30 epochs, above it
after the profile's 70), so its margin is smaller, with the reason beside it."""

import warnings

import pytest

from hashlib_tutorial.training.loop import CollapsedCodesWarning
from hashlib_tutorial.training.registry import METHODS, method_class
from hashlib_tutorial.training.train import train

from synthetic_folder import make_synthetic_folder

DEEP = sorted(name for name in METHODS if method_class(name).deep)
BITS = {"admth": (16, 32)}


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return make_synthetic_folder(tmp_path_factory.mktemp("unseen") / "shapes")


MARGIN = 0.5  # mAP above chance (1/6 here); the methods with a class loss or a contrastive loss end 0.64-0.81 above
MARGINS = {"dpsh": (0.1, "the likelihood alone learns slowest from random weights: 0.16 above chance (recipe row LM)")}


@pytest.mark.parametrize("name", DEEP)
def test_the_quick_profile_learns_a_dataset_it_never_saw_without_collapsing(name, folder, tmp_path):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        report = train(name, BITS.get(name, 16), tmp_path / "run", "quick", progress=False, dataset="folder",
                       data_dir=str(folder))
    collapsed = [str(w.message) for w in caught if issubclass(w.category, CollapsedCodesWarning)]
    assert not collapsed, collapsed
    for bits, result in report["results"].items():
        margin = MARGINS.get(name, (MARGIN, ""))[0]
        assert result["mAP"] > result["chance"] + margin, (name, bits, result["mAP"], result["chance"])

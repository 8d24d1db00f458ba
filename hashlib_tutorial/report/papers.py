"""The papers' own numbers (CIFAR-10), typed once, each with where it comes from: the tables, the README
and the benchmark quote them from here. A comparison a paper does not make, or whose number could not
be read, is recorded as such (``effect=None`` and the reason); it is never filled in."""

from __future__ import annotations

from dataclasses import dataclass

DAH_URL = "https://www.semanticscholar.org/paper/5fcae7bab96ace5b753c1e54591c670bbdb10d64"
DPFAH_URL = "https://www.nature.com/articles/s41598-022-11217-5"
ADMTH_URL = "https://www.mdpi.com/2079-9292/12/5/1226"
DPSH_PYTORCH_URL = "https://github.com/jiangqy/DPSH-pytorch"

# mAP, with the protocol each paper used: comparable only within a protocol.
PAPER_MAP = {
    "dah": {"protocol": "cifar10-2, mAP@ALL", "mAP": {"12": 0.925, "24": 0.922, "36": 0.927, "48": 0.923}},
    "dpfah": {"protocol": "cifar10, mAP@ALL", "mAP": {"16": 0.838, "32": 0.845, "48": 0.852, "64": 0.855}},
    # Not the DPSH paper (Li, Wang, Kang, IJCAI 2016), whose CNN-F numbers are 0.713 / 0.727 / 0.744 / 0.757:
    # the table "Mean Average Precision on CIFAR-10" of the README of DPSH-pytorch, row "Alexnet, Pytorch".
    "dpsh": {"protocol": "DPSH code's CIFAR-10 split, mAP@ALL, ImageNet AlexNet, DPSH-pytorch README (not the DPSH paper)",
             "mAP": {"12": 0.7505, "24": 0.7724, "32": 0.7758, "48": 0.7828},
             "source": f"{DPSH_PYTORCH_URL} README, table 'Mean Average Precision on CIFAR-10', row Alexnet / Pytorch"},
}
PAPER_DAH_ENCODE_US = 5280  # DAH's encoding time per image, microseconds (its GPU)
PAPER_ADMTH_SECONDS = {"multi-length": 209.6, "four single-length runs": 629.8}  # ADMTH Table 3, training seconds

NOT_READ = ("not typed: the stored copies of the paper that this project can read hold its opening "
            "(title, abstract, introduction) only; read the number from the paper and type it here")


@dataclass(frozen=True)
class PaperEffect:
    """What a paper reports for one of the report's comparisons: row ``with_`` against row ``without``.

    Attributes:
        paper: "DAH", "DPFAH" or "ADMTH".
        with_, without: the report's rows; the effect is mAP(with_) - mAP(without).
        compares: what the paper compares there, or what the rows compare when the paper does not.
        where: the paper's table or figure, "" when the paper makes no such comparison.
        source: where this entry comes from.
        effect: the paper's difference in mAP, as printed (None when there is none, see ``missing``).
        bits: the code length of the paper's number.
        protocol: the paper's data and network for it, when they differ from the report's rows.
        missing: why ``effect`` is None.
    """

    paper: str
    with_: str
    without: str
    compares: str
    where: str
    source: str
    effect: float | None = None
    bits: str = ""
    protocol: str = ""
    missing: str = ""


_DPFAH_TABLE5 = (f"{DPFAH_URL}, Table 5 (48 bits), whose steps notebook 05 reads as: the backbone with DPSH's "
                 "likelihood, then SimAM added, then the quantisation and class losses added")
_ADMTH_DATA = "NUS-WIDE and MS-COCO with ImageNet CNN-F (ADMTH reports no CIFAR-10)"

PAPER_EFFECTS = [
    PaperEffect("DAH", "dah-recipe", "dah-no-cbam", "DAH against NoneA-DAH, its network without the three CBAM blocks",
                "NoneA-DAH comparison", "issue 30's audit of the DAH paper: CBAM adds 0.1-0.4 points of mAP over the "
                "code lengths (the larger end typed here); the table is not readable offline, read it to type the "
                "exact number", effect=0.004, bits="12-48", protocol="cifar10-2, DAH's ResNet-30"),
    PaperEffect("DAH", "dah-recipe", "dah-dpsh-loss", "DAH's loss against DPSH's likelihood on DAH's network", "", DAH_URL,
                missing="DAH makes no such comparison: it sets DAH against other methods, each on its own network"),
    PaperEffect("DPFAH", "dpfah-simam", "dpfah-backbone", "SimAM added to the backbone, before the losses", "Table 5",
                _DPFAH_TABLE5, bits="48", protocol="cifar10, ImageNet ResNet-18", missing=NOT_READ),
    PaperEffect("DPFAH", "dpfah-recipe", "dpfah-simam", "the quantisation and class losses added to backbone + SimAM",
                "Table 5", _DPFAH_TABLE5, bits="48", protocol="cifar10, ImageNet ResNet-18", missing=NOT_READ),
    PaperEffect("DPFAH", "dpfah-recipe", "dpfah-no-simam", "DPFAH with and without SimAM, both with the losses", "",
                _DPFAH_TABLE5, missing="not in DPFAH: Table 5 adds SimAM before the losses and never removes it from "
                "the full model (the nearest step: dpfah-simam against dpfah-backbone)"),
    PaperEffect("DPFAH", "dpfah-recipe", "dpfah-simam-blocks", "SimAM once after the stem against SimAM in every block",
                "", DPFAH_URL, missing="not in DPFAH: it places SimAM once, after the stem, and tries no other place"),
    PaperEffect("ADMTH", "admth-recipe", "admth-no-se", "ADMTH with and without its channel attention (SE) module",
                "Section 3.3, ablation study", ADMTH_URL, protocol=_ADMTH_DATA, missing=NOT_READ),
    PaperEffect("ADMTH", "admth-recipe", "admth-split-1", "branches split at the first FC layer against the second, "
                "SE kept", "", ADMTH_URL, missing="not in ADMTH: its Table 2 compares branches that share the "
                "convolutional layers against branches that share FC layers, with the attention module removed"),
    *(PaperEffect("ADMTH", f"{prefix}split-fc", f"{prefix}no-se", "branches sharing the FC layers against "
                  "branches sharing only the convolutions, no attention", "Table 2", ADMTH_URL, protocol=_ADMTH_DATA,
                  missing=NOT_READ) for prefix in ("admth-", "admth-mosaic-")),
    *(PaperEffect("ADMTH", "admth-recipe", f"admth-single-{b}", "one multi-length model against a model trained for "
                  "one length", "a figure", ADMTH_URL, protocol=_ADMTH_DATA,
                  missing="shown in a figure, not a table: no value can be quoted") for b in (16, 32, 48, 64)),
    *(PaperEffect("ADMTH", "admth-recipe", f"admth-single-{b}-no-se", "its multi-length model against single-length "
                  "models without the attention module", "a figure", ADMTH_URL, protocol=_ADMTH_DATA,
                  missing="shown in a figure, not a table, and not readable offline (issue 30's audit of the paper "
                  "says its single-length models have no attention): no value can be quoted") for b in (16, 32, 48, 64)),
    *(PaperEffect("ADMTH", "admth-no-se", f"admth-single-{b}-no-se", "one multi-length model against a model for "
                  "one length, both without attention", "", ADMTH_URL,
                  missing="not in ADMTH: it keeps attention in its multi-length model; these two rows isolate "
                  "multi-length training") for b in (16, 32, 48, 64)),
    *(PaperEffect(paper, f"{method}-recipe", f"{method}-paper-objective", "the CPU recipe against the paper's "
                  "objective on the same network and budget", "", url,
                  missing="not a comparison of the paper, which trains only its own objective")
      for paper, method, url in (("DAH", "dah", DAH_URL), ("DPFAH", "dpfah", DPFAH_URL), ("ADMTH", "admth", ADMTH_URL))),
]


def paper_effect(label: str, against: str) -> tuple[PaperEffect, int] | None:
    """The paper's entry for row ``label`` against row ``against`` and the sign that turns its effect into
    mAP(label) - mAP(against) (+1 or -1), or None when no entry names the two rows."""
    for entry in PAPER_EFFECTS:
        if (entry.with_, entry.without) == (label, against):
            return entry, 1
        if (entry.without, entry.with_) == (label, against):
            return entry, -1
    return None

"""The papers' own numbers (CIFAR-10), typed once: the tables, the README and the benchmark quote them from here."""

# mAP, with the protocol each paper used: comparable only within a protocol.
PAPER_MAP = {
    "dah": {"protocol": "cifar10-2, mAP@ALL", "mAP": {"12": 0.925, "24": 0.922, "36": 0.927, "48": 0.923}},
    "dpfah": {"protocol": "cifar10, mAP@ALL", "mAP": {"16": 0.838, "32": 0.845, "48": 0.852, "64": 0.855}},
    "dpsh": {"protocol": "cifar10, mAP@ALL, AlexNet (DPSH paper)", "mAP": {"12": 0.751, "24": 0.772, "32": 0.776, "48": 0.783}},
}
PAPER_DAH_ENCODE_US = 5280  # DAH's encoding time per image, microseconds (its GPU)
PAPER_ADMTH_SECONDS = {"multi-length": 209.6, "four single-length runs": 629.8}  # ADMTH Table 3, training seconds

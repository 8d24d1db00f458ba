"""The reproduce report: table and figures from a results dictionary (no training here)."""

from hashlib_tutorial.reproduce import PAPER_MAP, markdown_table, write_figures


def fake_report(method, bits, value):
    curve = {"precision": [1.0, 0.5], "recall": [0.1, 0.6]}
    return {"method": method, "protocol": "quick", "results": {
        str(b): {"mAP": value, "mAP_tie_aware": value - 0.01, "precision_radius2": 0.4, "pr_curve": curve,
                 "precision_at_n": {"1": 0.9, "10": 0.8}} for b in bits}}


def test_table_puts_the_papers_numbers_beside_ours_and_figures_are_written(tmp_path):
    results = {"profile": "quick", "paper": PAPER_MAP,
               "provenance": {"device": "cpu", "threads": 2, "seconds": 120.0, "git_commit": "abc"},
               "rows": {"dpfah": fake_report("dpfah", (16, 32), 0.5), "itq-features": fake_report("itq", (16,), 0.3)}}
    table = markdown_table(results)
    assert "| dpfah | quick | 16 | 0.500 | 0.490 | 0.400 | 0.838 (cifar10, mAP@ALL) |" in table
    assert "| itq-features | quick | 16 | 0.300 | 0.290 | 0.400 |  |" in table  # no paper number for a variant
    written = write_figures(results, tmp_path)
    assert [p.name for p in written] == ["quick_pr_pn_16bits.png", "quick_pr_pn_32bits.png", "quick_map_vs_bits.png"]
    assert all(p.stat().st_size > 1000 for p in written)

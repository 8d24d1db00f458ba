"""Retrieval: Hamming distances, the metrics the papers report, and exact k-NN search over packed codes."""

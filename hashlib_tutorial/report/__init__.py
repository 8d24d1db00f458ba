"""The outputs of ``reproduce``: which rows to train, the report's tables and figures, the papers' numbers."""

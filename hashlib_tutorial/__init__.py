"""Attention-based deep supervised hashing (DAH, DPFAH, ADMTH) rebuilt from the papers' equations.

The parts are in ``data``, ``model`` and ``retrieval``; ``training`` builds, trains and evaluates a
method and owns the run folders; ``report`` makes the reproduction's tables (see the README's module table).
"""

from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent  # a clone's root: results/, figures/, checkpoints/, the docs

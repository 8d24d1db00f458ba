"""Writing files safely: through a temporary file and a rename, so a crash or a full disk never leaves half
a file; reading JSON back with an error that names the file."""

from __future__ import annotations

import errno
import json
import os
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np

# What np.load raises for a missing, truncated or foreign .npz file.
NPZ_ERRORS = (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile)


class NoSpaceError(OSError):
    """The disk (or the user's quota) filled up while writing ``filename``: it was not written, its previous
    version is kept. The command line adds how to resume."""

    def __init__(self, path: Path):
        super().__init__(errno.ENOSPC, "no space left on device", str(path))

    def __str__(self) -> str:
        return f"no space left on device while writing {self.filename}; free some space and run the command again"


def atomic_write(path: Path, write: Callable[[Path], object]) -> None:
    """Call ``write(tmp)`` on a temporary file beside ``path``, then rename it to ``path``: a reader
    never sees half a file. The temporary file is removed if ``write`` fails.

    Raises:
        NoSpaceError: the disk is full (``path`` keeps its previous content).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    try:
        write(tmp)
        os.replace(tmp, path)
    except OSError as error:
        if error.errno in (errno.ENOSPC, errno.EDQUOT):
            raise NoSpaceError(path) from error
        raise
    except RuntimeError as error:  # torch.save to a path reports a short write as "[enforce fail ...] unexpected pos"
        if "unexpected pos" in str(error):
            raise NoSpaceError(path) from error
        raise
    finally:
        tmp.unlink(missing_ok=True)


def read_json(path: Path, remedy: str):
    """The JSON content of ``path``; a missing file raises FileNotFoundError, a damaged one (truncated, not
    JSON, not UTF-8) a ValueError of one line that names the file and ``remedy``, what to do about it."""
    path = Path(path)
    try:
        return json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        reason = f"{error.msg} at character {error.pos}" if isinstance(error, json.JSONDecodeError) else "not UTF-8 text"
        raise ValueError(f"{path} is damaged (not valid JSON: {reason}); {remedy}") from None


def save_npz(path: Path, **arrays: np.ndarray) -> None:
    """np.savez of ``arrays`` into ``path`` (written as named, no suffix added), atomically."""

    def write(tmp: Path) -> None:
        with open(tmp, "wb") as f:
            np.savez(f, **arrays)

    atomic_write(path, write)

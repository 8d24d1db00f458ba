"""Which folders ``train`` may write into and replace, and the lock while it trains in one.

Only what the project made is ever deleted: a run folder carries MARKER from its first write
(:func:`made_by_train` also recognises runs written before the marker existed), and ``--overwrite``
refuses any other folder. A process training in a folder holds :class:`RunLock` on it, so a second
``train`` on the same ``--out`` is refused at once instead of mixing two runs.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import sys
import time
from pathlib import Path

from .config import TrainConfig
from .runs import read_config, save_json

try:
    import fcntl
except ImportError:  # Windows: no lock
    fcntl = None

MARKER = ".hashlib_run"  # written first into every run folder: what --overwrite may replace
RUN_FILES = ("config.json", "splits.npz", "metrics.json", MARKER)
SUB_RUN = re.compile(r"\d+(-\d+)*bits")  # 16bits, or 16-32-48-64bits for a multi-length method


def made_by_train(folder: str | Path) -> bool:
    """Whether ``folder`` holds a run that train wrote, the only kind of folder --overwrite may replace.

    A run written since the marker exists holds MARKER. A run written before (the committed
    ``checkpoints/`` among them) is recognised by its structure: a config.json whose keys are all
    TrainConfig fields, method and bits among them, beside splits.npz or a <K>bits sub-run. A user's
    folder that holds a config.json of its own is neither.
    """
    folder = Path(folder)
    if (folder / MARKER).is_file():
        return True
    try:
        config = json.loads((folder / "config.json").read_text())
    except (OSError, ValueError):
        return False
    settings = isinstance(config, dict) and {"method", "bits"} <= config.keys() <= set(TrainConfig.__dataclass_fields__)
    return settings and ((folder / "splits.npz").is_file() or
                         any(p.is_dir() and SUB_RUN.fullmatch(p.name) for p in folder.iterdir()))


def check_run_folder(out: Path, resume: bool, overwrite: bool) -> None:
    """Refuse an ``out`` that training would damage.

    A new or empty folder is fine; a folder holding a run (:func:`made_by_train`) needs ``resume``
    (continue it) or ``overwrite`` (replace it); anything else (a file, a folder of other things, a
    config.json of the user's own) is refused, and the message does not suggest --overwrite for it.
    """
    if resume and overwrite:
        raise ValueError("--resume continues the run in --out and --overwrite replaces it: pass only one")
    if out.exists() and not out.is_dir():
        raise ValueError(f"--out {out} is a file, not a folder; give a new folder for the run")
    if not out.exists() or not any(p.name != MARKER for p in out.iterdir()):
        return
    if not made_by_train(out):
        if (out / "config.json").exists():
            raise ValueError(f"--out {out} holds a config.json not written by train (no {MARKER} marker, no run's "
                             "files beside it), so train leaves the folder alone; give a new or empty folder for the run")
        raise ValueError(f"--out {out} is not empty and holds no run (no config.json); "
                         "give a new or empty folder for the run")
    if resume or overwrite:
        return
    if not (out / "config.json").exists():
        raise ValueError(f"--out {out} holds a run that stopped before it saved its settings; "
                         "pass --overwrite to replace it, or give another --out")
    config = read_config(out)
    bits = ", ".join(map(str, config["bits"]))
    raise ValueError(f"--out {out} already holds a run ({config['method']}, {bits} bits); "
                     "pass --resume to continue it, --overwrite to replace it, or give another --out")


def remove_run(out: Path) -> None:
    """Delete what a run wrote in ``out`` (RUN_FILES and the <K>bits sub-runs), and nothing else."""
    for name in RUN_FILES:
        (out / name).unlink(missing_ok=True)
    for sub_run in out.iterdir():
        if sub_run.is_dir() and SUB_RUN.fullmatch(sub_run.name):
            shutil.rmtree(sub_run)


def write_marker(out: Path, command: str | None) -> None:
    """MARKER: this folder is a run of train's, with the process that trains in it (named to a second train)."""
    save_json(out / MARKER, {"written_by": "hashlib_tutorial train", "pid": os.getpid(), "host": socket.gethostname(),
                             "command": command or " ".join(sys.argv), "started": time.strftime("%Y-%m-%d %H:%M:%S")})


class RunLock:
    """An exclusive lock on a run folder while one process trains in it: ``flock`` on the folder itself,
    so no file is written, and the kernel releases it when the process ends, however it ends. On a
    system or file system without ``flock`` there is no lock.

        with RunLock(out) as lock:   # locks out now if it exists: a second train is refused at once
            ...                      # every check
            lock.acquire()           # after out is created
    """

    def __init__(self, folder: Path):
        self.folder, self.fd = Path(folder), None

    def acquire(self) -> None:
        """Lock the folder (if it exists and is not locked by us already); ValueError if another process has it."""
        if self.fd is not None or fcntl is None or not self.folder.is_dir():
            return
        fd = os.open(self.folder, os.O_RDONLY)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise ValueError(f"--out {self.folder} is in use by another train{self._holder()}; wait for it to end, "
                             "or give another --out") from None
        except OSError:  # a file system without flock (some network file systems)
            os.close(fd)
            return
        self.fd = fd

    def _holder(self) -> str:
        """" (pid N: command)" of the process that holds the lock, from MARKER, if that process is alive here."""
        try:
            marker = json.loads((self.folder / MARKER).read_text())
            pid = int(marker["pid"])
            if marker.get("host") != socket.gethostname():
                return ""
            os.kill(pid, 0)  # ProcessLookupError if it is gone
        except PermissionError:  # alive, another user's
            pass
        except (OSError, ValueError, KeyError, TypeError):
            return ""
        return f" (pid {pid}: {marker.get('command', '')})"

    def release(self) -> None:
        if self.fd is not None:
            os.close(self.fd)  # closing the descriptor releases the lock
            self.fd = None

    def __enter__(self) -> "RunLock":
        self.acquire()
        return self

    def __exit__(self, *exc) -> None:
        self.release()

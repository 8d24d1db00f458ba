"""``python -m hashlib_tutorial reproduce --profile demo|quick|cpu|paper``: the report's rows, trained and evaluated.

Writes ``<out>/<profile>/runs/<row>/`` (one resumable run per row and seed),
``<out>/<profile>/results.json`` (every number with its provenance, rewritten after each row),
``<out>/<profile>/results.md`` (the report's tables, generated from results.json) and the figures of
:mod:`report.figures`: into the project's ``figures/`` (and the README's and REPRODUCTION.md's blocks,
the figures embedded with their captions) only when ``<out>`` is the project's ``results/`` (the default),
else into ``<out>/<profile>/figures/``; nothing else is
written. Trained into another ``<out>``, the table is printed beside the committed reference
(``results/<profile>/results.json``). An interrupted reproduce continues where it stopped: a row
already in results.json, or finished in its run folder, with the settings the row has now, is read
back; any other row trains (resuming from its last epoch). When every row is read back, it says so:
nothing was trained. ``commit=True`` commits results.json after every row, so a run that outlives a
working session keeps what it finished.

Profiles (see :data:`training.config.PROFILES`): ``demo`` (``make demo``, into a fresh ``runs/demo-<time>``:
one model of each paper and the baselines), ``quick`` (the main rows, every length), ``cpu`` (the
reproduction report: each paper on its protocol, the main rows, and the ablations at 3 seeds),
``paper`` (the papers' settings, for a GPU).
"""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

from .. import PROJECT_ROOT
from ..data.files import read_json
from ..training.config import PROFILES, resolve_config
from ..training.runs import git_commit, provenance, resolve_device, save_json
from ..training.train import train
from .figures import FIGURE_MARKERS, figures_block, write_figures
from .papers import PAPER_MAP
from .rows import row_settings, rows_for, seed_key
from .status import stale as _stale  # reproduce._stale: what differs from the settings a row has now
from .status import unfinished
from .tables import DEMO_MARKERS, fill_report, headline_table, markdown_table, report_tables



def reproduce(profile: str, out_root: Path = PROJECT_ROOT / "results", methods: list[str] | None = None,
              data_dir: str | None = None, command: str = "", commit: bool = False, train_missing: bool = True) -> dict:
    """Train and evaluate every row and seed (or the rows named in ``methods``), then write results and figures.

    ``train_missing=False`` trains nothing: the tables and figures are written from the finished rows.
    """
    if profile not in PROFILES:
        raise ValueError(f"unknown profile {profile!r}; choose one of {PROFILES}")
    rows_wanted = rows_for(profile)
    unknown = set(methods or []) - set(rows_wanted)
    if unknown:
        raise ValueError(f"unknown rows {sorted(unknown)} for profile {profile}; choose from {list(rows_wanted)}")
    out, started = Path(out_root) / profile, time.time()
    git_commit()  # the code as it is now, when the run starts (cached for the provenance)
    runs, results_path = out / "runs", out / "results.json"
    saved = _read_results(results_path)["rows"] if results_path.exists() else {}
    rows, missing = {}, []  # the finished rows (with the settings each row has now), and the rows to train
    for label, row in rows_wanted.items():
        for seed in row.seeds:
            key = seed_key(label, seed)
            settings = row_settings(label, profile, runs, data_dir, seed)
            wanted = {**resolve_config(row.method, row.bits, profile, **settings).as_saved(), "bits": list(row.bits)}
            done = runs / key / "metrics.json"
            finished = [r for r in (saved.get(key), _read_row(done) if done.exists() else None)
                        if _stale(r, wanted) is None]
            source = _features_source(settings)
            if source:  # it hashed the features of the source's run that the report holds, or it is stale
                finished = [r for r in finished if source in rows and r.get("features_from") == rows[source]["provenance"]]
            if finished:
                rows[key] = finished[0]
            elif source and train_missing and (source in rows or source in {k for k, _, _ in missing}):
                print(f"== {key}: hashes the features of {source}'s network as it is now: training it (again)")
                missing.append((key, row, settings))
            elif train_missing and not (methods and label not in methods):
                if key in saved:
                    print(f"== {key}: results.json holds it with other settings ({_stale(saved[key], wanted)}); "
                          "training it again")
                missing.append((key, row, settings))
    order = [seed_key(label, seed) for label, row in rows_wanted.items() for seed in row.seeds]
    for key, row, settings in missing:  # each write holds every finished row, so an interruption loses none
        print(f"== {key}: {row.method} at {', '.join(map(str, row.bits))} bits ({profile} profile)", flush=True)
        rows[key] = train(row.method, row.bits, runs / key, profile, resume=True, command=command, **settings)
        if source := _features_source(settings):
            rows[key]["features_from"] = rows[source]["provenance"]
        rows = {k: rows[k] for k in order if k in rows}
        written = _write(_results(profile, rows, command, started), out, out_root)  # after every row
        if commit:
            _commit(written, f"reproduce --profile {profile}: row {key}")
    results = _results(profile, rows, command, started)
    if not missing and results_path.exists():  # nothing trained: keep the provenance of the run that trained
        results["provenance"] = _read_results(results_path)["provenance"]
    _write(results, out, out_root)
    write_figures(results, PROJECT_ROOT / "figures" if _is_project(out_root) else out / "figures")
    if _is_project(out_root) and profile == "cpu":  # each figure embedded with its caption
        fill_report(PROJECT_ROOT / "REPRODUCTION.md", results, figures_block(results), FIGURE_MARKERS)
    if train_missing and not missing and set(rows) == set(order):
        print(f"nothing to train: every row is in {results_path} (from commit {_commits(rows)}); "
              "pass --out <new folder> to train again")
    print(markdown_table(results, unfinished(results)))
    reference = PROJECT_ROOT / "results" / profile / "results.json"
    if missing and not _is_project(out_root) and reference.exists():
        print(beside_reference(results, _read_results(reference), reference.relative_to(PROJECT_ROOT)))
    return results


def _read_results(path: Path) -> dict:
    """A results.json; a damaged one is a ValueError that names it and what to do (git restores the committed
    ones, in the project's results/)."""
    restore, path = "", Path(path)
    if path.resolve().is_relative_to((PROJECT_ROOT / "results").resolve()):
        restore = f"restore it (git checkout -- {path.resolve().relative_to(PROJECT_ROOT.resolve())}) or "
    return read_json(path, f"{restore}delete it and run reproduce again (it retrains every row)")


def _read_row(path: Path) -> dict:
    """A row's metrics.json in its run folder; a damaged one is a ValueError that names it and what to do."""
    return read_json(path, "delete it and run reproduce again (it trains that row again)")


def _is_project(out_root: Path) -> bool:
    """Whether ``out_root`` is the project's own results/ (whose figures and README blocks it writes)."""
    return Path(out_root).resolve() == (PROJECT_ROOT / "results").resolve()


def _commits(rows: dict) -> str:
    return ", ".join(sorted({r["provenance"]["git_commit"] for r in rows.values() if "provenance" in r})) or "unknown"


def beside_reference(results: dict, reference: dict, name: Path) -> str:
    """The mAP of each row and length of ``results`` beside the committed ``reference`` (from file ``name``)."""
    ours, theirs = _commits(results["rows"]), _commits(reference["rows"])
    lines = [f"this run beside the committed reference ({name}):", "",
             f"| row | bits | mAP, this run (commit {ours}) | mAP, committed reference (commit {theirs}) |",
             "|---|---|---|---|"]
    for label, report in results["rows"].items():
        for bits, r in report["results"].items():
            saved = reference["rows"].get(label, {}).get("results", {}).get(bits)
            committed = "" if saved is None else f"{saved['mAP']:.3f}"
            lines.append(f"| {label} | {bits} | {r['mAP']:.3f} | {committed} |")
    return "\n".join(lines) + "\n"


def _features_source(settings: dict) -> str | None:
    """The row whose trained network a row hashes the features of (``input_features``), or None."""
    name = Path(settings.get("input_features", "pixels")).name
    return None if name == "pixels" else name


def _write(results: dict, out: Path, out_root: Path) -> list[Path]:
    """results.json, results.md and, for the project's own results/, the README and REPRODUCTION.md blocks."""
    save_json(out / "results.json", results)
    (out / "results.md").write_text(report_tables(results))
    written = [out / "results.json", out / "results.md"]
    if _is_project(out_root):
        if results["profile"] == "cpu":
            fill_report(PROJECT_ROOT / "REPRODUCTION.md", results)
            fill_report(PROJECT_ROOT / "README.md", results, headline_table(results))
            written += [PROJECT_ROOT / "REPRODUCTION.md", PROJECT_ROOT / "README.md"]
        if results["profile"] == "demo":
            fill_report(PROJECT_ROOT / "README.md", results, headline_table(results), DEMO_MARKERS)
            written.append(PROJECT_ROOT / "README.md")
    return written


def _commit(paths: list[Path], message: str) -> None:
    """Commit ``paths`` alone (the rest of the work tree is left as it is); a warning if git refuses."""
    names = [str(p) for p in paths]
    done = subprocess.run(["git", "add", "--", *names], cwd=PROJECT_ROOT, capture_output=True, text=True)
    if done.returncode == 0:
        done = subprocess.run(["git", "commit", "--only", "-m", message, "--", *names], cwd=PROJECT_ROOT,
                              capture_output=True, text=True)
    if done.returncode:
        print(f"warning: could not commit {', '.join(names)}: {done.stderr.strip() or done.stdout.strip()}")


def _results(profile: str, rows: dict, command: str, started: float) -> dict:
    return {
        "profile": profile, "rows": rows, "paper": PAPER_MAP,
        "provenance": provenance(command, resolve_device(), started),
    }

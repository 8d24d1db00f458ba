"""The course handed out: a student edition (nbgrader), autograding, and the course site (Jupyter Book 1).

An exercise in a notebook is a Markdown cell "## Exercise N: ..." and the cells after it up to the
next "## " heading, each tagged: ``exercise-setup`` (code the checker needs), ``answer`` (the student's
cell: a stub or answers left at None), ``checker`` (calls ``exercises.check`` or ``check_answer``),
``solution`` (the teacher's collapsed solution, its body between ``### BEGIN SOLUTION`` and
``### END SOLUTION``). An exercise that cannot be checked has the tag ``discussion`` on its statement.

The student edition runs nbgrader's preprocessors: ClearSolutions (any BEGIN/END SOLUTION region
becomes nbgrader's stub), LockCells (statements and checkers read-only) and ClearOutput; the teacher's
solution cells are dropped, since the answer cell already holds the stub. Cells carry nbgrader's
metadata, so a checker is a grade cell; :func:`autograde` restores the checkers as handed out, runs the
submission and scores every checker that passes (nbgrader's rule: a grade cell without an error).
"""

from __future__ import annotations

import copy
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from . import PROJECT_ROOT

NOTEBOOKS = PROJECT_ROOT / "notebooks"
BUILD = PROJECT_ROOT / "build"
BOOK_SOURCES = PROJECT_ROOT / "book"
NOT_ATTEMPTED = "not attempted"
_QUIZ_ANSWERS = re.compile(r"<details>\s*<summary>\s*Answers?\s*</summary>.*?</details>", re.DOTALL | re.IGNORECASE)
_ROOT_LINE = re.compile(r'^ROOT = Path\.cwd\(\)\.parent if Path\.cwd\(\)\.name == "notebooks" else Path\.cwd\(\)$',
                        re.MULTILINE)
_JUPYTER_ANCHOR = re.compile(r"\]\(#((?:[^()\s]|\([^()\s]*\))+)\)")   # a Jupyter heading link, parentheses balanced
_TIME = re.compile(r"\*\*Time[:.]?\*\*[:.]?\s*(?:[Aa]bout\s+)?(\d+)\s*min")


def tags(cell) -> list[str]:
    return cell.get("metadata", {}).get("tags", [])


@dataclass
class Exercise:
    """One exercise of a notebook: its heading and the indices of its cells by role."""

    number: int
    title: str
    statement: int
    cells: dict[str, list[int]] = field(default_factory=dict)

    @property
    def discussion(self) -> bool:
        return bool(self.cells.get("discussion"))


def exercises(nb) -> list[Exercise]:
    """The exercises of a notebook, from each "## Exercise N: ..." heading to the next "## " heading."""
    found, current = [], None
    for i, cell in enumerate(nb.cells):
        heading = cell.cell_type == "markdown" and cell.source.startswith("## ")
        if heading:
            current = None
            match = re.match(r"## Exercise (\d+)\s*:?\s*(.*)", cell.source.split("\n")[0])
            if match:
                current = Exercise(int(match.group(1)), match.group(2).strip(), i)
                current.cells["discussion"] = [i] if "discussion" in tags(cell) else []
                found.append(current)
            continue
        if current is not None:
            for role in ("exercise-setup", "answer", "checker", "solution"):
                if role in tags(cell):
                    current.cells.setdefault(role, []).append(i)
    return found


def problems(nb) -> list[str]:
    """What keeps a notebook's exercises from being handed out and graded (empty when none)."""
    found = []
    for ex in exercises(nb):
        where = f"Exercise {ex.number}"
        if not ex.cells.get("checker") and not ex.discussion:
            found.append(f"{where} has no cell tagged checker and is not tagged discussion")
        if ex.cells.get("checker") and not ex.cells.get("answer"):
            found.append(f"{where} has a checker but no cell tagged answer")
        for i in ex.cells.get("solution", []):
            source = nb.cells[i].source
            if "### BEGIN SOLUTION" not in source or "### END SOLUTION" not in source:
                found.append(f"{where}: solution cell {i} has no ### BEGIN SOLUTION / ### END SOLUTION region")
        for i in ex.cells.get("checker", []):
            if not re.search(r"\bcheck(_answer)?\(", nb.cells[i].source):
                found.append(f"{where}: checker cell {i} calls neither check nor check_answer")
    return found


def _nbgrader(cell, grade_id: str, role: str) -> None:
    meta = {"grade": role == "checker", "solution": role == "answer", "locked": role != "answer",
            "grade_id": grade_id, "schema_version": 3}
    if role == "checker":
        meta["points"] = 1
    cell.metadata["nbgrader"] = meta


def student_notebook(nb):
    """The student edition of a teacher's notebook: no solution, no output, checkers and statements locked."""
    try:
        from nbgrader.preprocessors import ClearOutput, ClearSolutions, LockCells
    except ImportError:
        raise RuntimeError("nbgrader is not installed: make setup (pip install -e '.[dev]')") from None

    bad = problems(nb)
    if bad:
        raise ValueError("cannot hand out this notebook: " + "; ".join(bad))
    nb = copy.deepcopy(nb)
    nb, _ = ClearSolutions(enforce_metadata=False).preprocess(nb, {})   # nbgrader: every BEGIN/END SOLUTION region
    for ex in exercises(nb):
        _nbgrader(nb.cells[ex.statement], f"exercise-{ex.number}", "statement")
        for role in ("exercise-setup", "answer", "checker"):
            for k, i in enumerate(ex.cells.get(role, []), start=1):
                _nbgrader(nb.cells[i], f"exercise-{ex.number}-{role.removeprefix('exercise-')}-{k}", role)
    nb.cells = [cell for cell in nb.cells if "solution" not in tags(cell)]   # the teacher's own solution cells
    for cell in nb.cells:
        cell.metadata.pop("jupyter", None)
        cell.metadata.pop("execution", None)
        if cell.cell_type == "markdown":
            cell.source = _QUIZ_ANSWERS.sub("*The answers are in the teacher's edition.*", cell.source)
        else:   # the clone's root wherever the copy is opened (the notebooks find it from notebooks/)
            cell.source = _ROOT_LINE.sub("from hashlib_tutorial import PROJECT_ROOT as ROOT", cell.source)
    nb, _ = LockCells().preprocess(nb, {})        # nbgrader: checkers, setup and statements read-only
    nb, _ = ClearOutput().preprocess(nb, {})      # nbgrader: no output gives an answer away
    nb.metadata.pop("widgets", None)
    return nb


def write_student_edition(out: Path | None = None, notebooks: list[Path] | None = None) -> list[Path]:
    """Write the student edition of every notebook (or of ``notebooks``) into ``out`` (default build/student)."""
    out = Path(out) if out else BUILD / "student"
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for path in notebooks or sorted(NOTEBOOKS.glob("*.ipynb")):
        target = out / Path(path).name
        nbformat.write(student_notebook(nbformat.read(path, as_version=4)), target)
        written.append(target)
    return written


@dataclass
class Grade:
    exercise: str
    grade_id: str
    points: float
    max_points: float
    status: str


def _outcome(cell) -> str:
    errors = [o for o in cell.get("outputs", []) if o.get("output_type") == "error"]
    if not errors:
        text = "".join(o.get("text", "") for o in cell.get("outputs", []) if o.get("output_type") == "stream")
        return NOT_ATTEMPTED if NOT_ATTEMPTED in text else "passed"
    message = f"{errors[0].get('ename')}: {errors[0].get('evalue')}".split("\n")[0]
    return NOT_ATTEMPTED if NOT_ATTEMPTED in message else f"failed ({message[:200]})"


def autograde(submission: Path, source: Path | None = None, out: Path | None = None, timeout: int = 900) -> list[Grade]:
    """Grade a student's notebook: restore its checkers and statements as handed out, run it, score each checker.

    Args:
        submission: the student's filled-in copy of a student-edition notebook.
        source: the teacher's notebook (default: notebooks/ with the submission's file name).
        out: where to write the executed notebook (default: not written).
        timeout: seconds allowed per cell.
    Returns:
        One Grade per checker cell, in notebook order.
    """
    from nbclient import NotebookClient

    submission = Path(submission)
    source = Path(source) if source else NOTEBOOKS / submission.name
    if not source.exists():
        raise ValueError(f"no teacher's notebook {source}; pass --source notebooks/<name>.ipynb")
    reference = student_notebook(nbformat.read(source, as_version=4))
    handed_out = {c.metadata["nbgrader"]["grade_id"]: c for c in reference.cells
                  if c.metadata.get("nbgrader", {}).get("locked")}
    nb = nbformat.read(submission, as_version=4)
    present = set()
    for cell in nb.cells:   # what nbgrader's OverwriteCells does from its database
        grade_id = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
        if grade_id in handed_out:
            cell.source, cell.cell_type = handed_out[grade_id].source, handed_out[grade_id].cell_type
            cell.metadata["nbgrader"] = copy.deepcopy(handed_out[grade_id].metadata["nbgrader"])
            present.add(grade_id)
    client = NotebookClient(nb, timeout=timeout, allow_errors=True, kernel_name="python3",
                            resources={"metadata": {"path": str(NOTEBOOKS)}})
    previous = os.environ.get("NBGRADER_EXECUTION")
    os.environ["NBGRADER_EXECUTION"] = "autograde"   # an unanswered exercise raises instead of printing
    try:
        client.execute()
    finally:
        os.environ.pop("NBGRADER_EXECUTION") if previous is None else os.environ.update(NBGRADER_EXECUTION=previous)
    if out:
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(nb, out)
    titles = {f"exercise-{ex.number}": f"Exercise {ex.number}: {ex.title}" for ex in exercises(reference)}
    by_id = {c.metadata["nbgrader"]["grade_id"]: c for c in nb.cells if c.get("metadata", {}).get("nbgrader")}
    grades = []
    for grade_id, cell in handed_out.items():
        if not cell.metadata["nbgrader"].get("grade"):
            continue
        exercise = titles.get(grade_id.split("-checker")[0], grade_id)
        max_points = float(cell.metadata["nbgrader"]["points"])
        status = _outcome(by_id[grade_id]) if grade_id in present else "failed (checker cell deleted)"
        grades.append(Grade(exercise, grade_id, max_points if status == "passed" else 0.0, max_points, status))
    return grades


def format_grades(grades: list[Grade], name: str) -> str:
    lines = [f"{name}: {sum(g.points for g in grades):g} / {sum(g.max_points for g in grades):g} points"]
    lines += [f"  {g.points:g} / {g.max_points:g}  {g.exercise} [{g.grade_id}]: {g.status}" for g in grades]
    return "\n".join(lines)


def learning_path(notebooks: list[Path] | None = None) -> list[tuple[str, str, int | None]]:
    """(file stem, title, minutes) of every notebook, from its first cell's "# NN · Title" and "**Time**"."""
    path = []
    for nb_path in notebooks or sorted(NOTEBOOKS.glob("*.ipynb")):
        first = nbformat.read(nb_path, as_version=4).cells[0].source
        title = first.split("\n")[0].lstrip("# ").strip()
        minutes = _TIME.search(first)
        path.append((Path(nb_path).stem, title, int(minutes.group(1)) if minutes else None))
    return path


def _learning_path_table(path) -> str:
    rows = ["| notebook | time |", "|---|---|"]
    time = {stem: f"{m}\u00a0min" if m else "see the notebook" for stem, _, m in path}   # no break inside "15 min"
    rows += [f"| [{title}](notebooks/{stem}.ipynb) | {time[stem]} |" for stem, title, m in path]
    total = sum(m for *_, m in path if m)
    return "\n".join(rows) + f"\n\nIn all about {total / 60:.0f} hours of reading and running."


def _site_notebook(nb):
    """The notebook as the site shows it: solutions collapsed; links to book/ pages and Jupyter's heading links
    turned into the site's."""
    for cell in nb.cells:
        if "solution" in tags(cell) and "hide-cell" not in tags(cell):
            cell.metadata.setdefault("tags", []).append("hide-cell")
        if cell.cell_type == "markdown":   # [..](#Exercise-1:-Top-k) -> [..](#exercise-1-top-k)
            cell.source = cell.source.replace("](../book/", "](../")   # book/ is the site's root
            cell.source = _JUPYTER_ANCHOR.sub(lambda m: f"](#{re.sub(r'[^a-z0-9]+', '-', m.group(1).lower()).strip('-')})",
                                              cell.source)
    return nb


def build_book(out: Path | None = None) -> Path:
    """Build the course site from book/, the committed notebooks (never executed), REPRODUCTION.md and figures/.

    Args:
        out: the build folder (default build/book); the site is ``out/html``.
    Returns:
        The site's index.html.
    """
    out = Path(out) if out else BUILD / "book"
    src = out / "src"
    shutil.rmtree(src, ignore_errors=True)
    shutil.copytree(BOOK_SOURCES, src)
    shutil.copytree(PROJECT_ROOT / "figures", src / "figures")
    shutil.copy(PROJECT_ROOT / "REPRODUCTION.md", src / "REPRODUCTION.md")
    toc = (src / "_toc.yml").read_text()
    (src / "notebooks").mkdir()
    for nb_path in sorted(NOTEBOOKS.glob("*.ipynb")):
        if f"notebooks/{nb_path.stem}\n" not in toc + "\n":
            raise ValueError(f"book/_toc.yml does not list notebooks/{nb_path.stem}: add it to the course part")
        nbformat.write(_site_notebook(nbformat.read(nb_path, as_version=4)), src / "notebooks" / nb_path.name)
    intro = src / "intro.md"
    intro.write_text(intro.read_text().replace("{{ learning_path }}", _learning_path_table(learning_path())))
    html = out / "html"
    shutil.rmtree(html, ignore_errors=True)
    jupyter_book = Path(sys.executable).parent / "jupyter-book"
    if not jupyter_book.exists() and not shutil.which("jupyter-book"):
        raise RuntimeError("jupyter-book is not installed: make setup (pip install -e '.[dev]')")
    command = [str(jupyter_book) if jupyter_book.exists() else "jupyter-book", "build", str(src), "--builder", "html",
               "--path-output", str(out / "jb")]
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"jupyter-book build failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
    shutil.move(str(out / "jb" / "_build" / "html"), html)
    shutil.rmtree(out / "jb", ignore_errors=True)
    return html / "index.html"

"""The course handed out: the student edition hides every solution and answer, its checkers say "not
attempted", the autograder scores a filled-in notebook, and the course site has every notebook, its
figures and no broken link."""

import ast
import html
import re
from contextlib import redirect_stdout
from html.parser import HTMLParser
from io import StringIO
from pathlib import Path
from unittest.mock import MagicMock
from urllib.parse import unquote, urlsplit

import matplotlib
import matplotlib.pyplot
import nbformat
import numpy as np
import pytest
import torch
from IPython.core.inputtransformer2 import TransformerManager

from hashlib_tutorial import handout
from hashlib_tutorial.__main__ import main
from hashlib_tutorial.exercises import answer_digest

matplotlib.use("Agg")
TEACHER = {path.name: nbformat.read(path, as_version=4) for path in sorted(handout.NOTEBOOKS.glob("*.ipynb"))}
CHECK_CALL = re.compile(r"\bcheck(_answer)?\(")


@pytest.fixture(scope="module")
def student(tmp_path_factory):
    out = tmp_path_factory.mktemp("student")
    main(["student", "--out", str(out)])   # what `make student` runs
    return {name: nbformat.read(out / name, as_version=4) for name in TEACHER}


@pytest.mark.parametrize("name", sorted(TEACHER))
def test_every_exercise_has_a_checker_that_the_solution_runs(name):
    nb = TEACHER[name]
    assert handout.exercises(nb), f"{name} has no exercise"
    assert handout.problems(nb) == []
    for ex in handout.exercises(nb):
        if ex.discussion:
            continue
        solutions = "\n".join(nb.cells[i].source for i in ex.cells.get("solution", []))
        for i in ex.cells["checker"]:   # nbval runs the solution cell, so every checker call must be in it
            for line in nb.cells[i].source.split("\n"):
                if CHECK_CALL.match(line):
                    assert line in solutions, f"{name} Exercise {ex.number}: the solution does not run {line!r}"


def _solution_only_lines(nb) -> set[str]:
    """Code lines of the teacher's solution cells that appear nowhere else in the notebook."""
    solution, other = set(), set()
    for cell in nb.cells:
        lines = {line.strip() for line in cell.source.split("\n") if len(line.strip()) > 12}
        (solution if "solution" in handout.tags(cell) else other).update(lines)
    return {line for line in solution - other if not line.startswith("#") and not CHECK_CALL.match(line)}


@pytest.mark.parametrize("name", sorted(TEACHER))
def test_the_student_edition_has_no_solution_and_no_output(student, name):
    nb = student[name]
    text = "\n".join(cell.source for cell in nb.cells)
    assert "BEGIN SOLUTION" not in text and "END SOLUTION" not in text
    assert not any("solution" in handout.tags(cell) for cell in nb.cells)
    leaked = _solution_only_lines(TEACHER[name]) & {line.strip() for line in text.split("\n")}
    assert not leaked, f"solution code in the student edition: {sorted(leaked)[:3]}"
    assert all(not cell.get("outputs") and cell.get("execution_count") is None for cell in nb.cells if cell.cell_type == "code")
    assert "widgets" not in nb.metadata
    for revealing in ("<summary>Answers", "chance level of the quick protocol:", "distinct binary codes among",
                      "source_hidden"):
        assert revealing not in text + str([cell.metadata for cell in nb.cells])
    for ex in handout.exercises(nb):   # nbgrader: a locked grade cell per checker, an answer cell to write in
        grader = [nb.cells[i].metadata["nbgrader"] for i in ex.cells["checker"]]
        assert all(g["grade"] and g["locked"] and g["points"] == 1 for g in grader)
        assert all(nb.cells[i].metadata["nbgrader"]["solution"] for i in ex.cells["answer"])
        assert nb.cells[ex.statement].metadata["nbgrader"]["locked"]


def _defining_cells(nb, before: int) -> dict[str, str]:
    """The last code cell before ``before`` that binds each top-level name."""
    found = {}
    for cell in nb.cells[:before]:
        if cell.cell_type != "code":
            continue
        try:
            tree = ast.parse(TransformerManager().transform_cell(cell.source))
        except SyntaxError:
            continue
        for node in tree.body:
            targets = [t for n in ast.walk(node) if isinstance(n, (ast.Assign, ast.AugAssign, ast.For, ast.AnnAssign))
                       for t in ([*n.targets] if isinstance(n, ast.Assign) else [n.target])]
            names = {n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name)}
            if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
                names.add(node.name)
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                names |= {(a.asname or a.name).split(".")[0] for a in node.names}
            found.update(dict.fromkeys(names, cell.source))
    return found


def _run(source: str, namespace: dict, defining: dict[str, str], depth: int = 0) -> str:
    """Execute a cell cheaply: a name the exercise does not need becomes a MagicMock; when a mock breaks the
    cell, the Practical cell that defines the name runs instead."""
    code = compile(TransformerManager().transform_cell(source), "<cell>", "exec")
    mocked: set[str] = set()
    for _ in range(100):
        out = StringIO()
        try:
            with redirect_stdout(out):
                exec(code, namespace)
            return out.getvalue()
        except NameError as error:
            namespace[error.name] = MagicMock(name=error.name)
            mocked.add(error.name)
        except Exception:
            if not mocked or depth > 3 or not mocked <= defining.keys():
                raise
            for name in mocked:
                _run(defining[name], namespace, defining, depth + 1)
            mocked = set()
    raise RuntimeError("too many missing names")


@pytest.mark.parametrize("name", sorted(TEACHER))
def test_every_checker_of_the_student_edition_says_not_attempted(student, name, monkeypatch):
    monkeypatch.delenv("NBGRADER_EXECUTION", raising=False)
    nb = student[name]
    exercises = handout.exercises(nb)
    defining = _defining_cells(nb, exercises[0].statement)
    namespace = {"__name__": "__main__"}
    numpy_state = np.random.get_state()
    with torch.random.fork_rng(), matplotlib.rc_context():   # the notebook's seeds and styles stay in here
        _run(next(c.source for c in nb.cells if c.cell_type == "code"), namespace, defining)   # the imports cell
        for ex in exercises:
            roles = {i: role for role in ("exercise-setup", "answer", "checker") for i in ex.cells.get(role, [])}
            for i in sorted(roles):
                printed = _run(nb.cells[i].source, namespace, defining)
                if roles[i] == "checker":
                    calls = len(CHECK_CALL.findall(nb.cells[i].source))
                    assert printed.count("not attempted") == calls, f"Exercise {ex.number}: {printed!r}"
    np.random.set_state(numpy_state)
    matplotlib.pyplot.close("all")


TINY = [("markdown", "# 99 · A tiny course\n\n**Time:** about 5 minutes"),
        ("code", "import numpy as np\n\nfrom hashlib_tutorial.exercises import check, check_answer"),
        ("markdown", "## Exercise 1: Double it"),
        ("code", "def my_double(x):\n    raise NotImplementedError  # your code here", "answer"),
        ("code", "check(my_double, lambda x: 2 * x, cases=[(np.arange(3),)])", "checker"),
        ("code", "# Solution\n### BEGIN SOLUTION\ndef my_double(x):\n    return 2 * x\n\n"
                 "check(my_double, lambda x: 2 * x, cases=[(np.arange(3),)])\n### END SOLUTION", "solution"),
        ("markdown", "## Exercise 2: A number"),
        ("code", "answer = None  # 2 + 2", "answer"),
        ("code", f'check_answer(answer, "{answer_digest(4)}")', "checker"),
        ("code", f'### BEGIN SOLUTION\nanswer = 4\ncheck_answer(answer, "{answer_digest(4)}")\n### END SOLUTION', "solution"),
        ("markdown", "## Discussion\n\n## Quiz\n1. Why?\n<details>\n<summary>Answers</summary>\n\n1. Because.\n</details>")]


def test_autograde_restores_the_checkers_and_scores_each_exercise(tmp_path):
    teacher = nbformat.v4.new_notebook(metadata={"kernelspec": {"name": "python3", "language": "python",
                                                                "display_name": "Python 3"}})
    for kind, source, *tag in TINY:
        cell = nbformat.v4.new_markdown_cell(source) if kind == "markdown" else nbformat.v4.new_code_cell(source)
        cell.metadata["tags"] = tag
        teacher.cells.append(cell)
    source = tmp_path / "99_tiny.ipynb"
    nbformat.write(teacher, source)
    handed_out = handout.write_student_edition(tmp_path / "student", [source])[0]
    assert "Because" not in handed_out.read_text()
    grades = handout.autograde(handed_out, source=source)
    assert [(g.points, g.status) for g in grades] == [(0, "not attempted"), (0, "not attempted")]

    returned = nbformat.read(handed_out, as_version=4)
    for cell in returned.cells:   # one right answer, one wrong, and a checker "fixed" by the student
        if "def my_double" in cell.source:
            cell.source = "def my_double(x):\n    return x + x"
        elif cell.source.startswith("answer = None"):
            cell.source = "answer = 5"
        elif cell.source.startswith("check_answer"):
            cell.source = "print('right')"
    nbformat.write(returned, tmp_path / "returned.ipynb")
    grades = handout.autograde(tmp_path / "returned.ipynb", source=source, out=tmp_path / "graded.ipynb")
    assert [g.points for g in grades] == [1, 0] and grades[1].status.startswith("failed (AssertionError")
    assert (tmp_path / "graded.ipynb").exists()
    report = handout.format_grades(grades, "returned.ipynb")
    assert report.startswith("returned.ipynb: 1 / 2 points") and "Exercise 2: A number" in report


class _Links(HTMLParser):
    def __init__(self):
        super().__init__()
        self.links, self.ids, self.images = [], set(), []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.ids |= {attrs[k] for k in ("id", "name") if attrs.get(k)}
        self.links += [attrs[k] for k in ("href", "src") if attrs.get(k) is not None]
        if tag == "img":
            self.images.append(attrs.get("src", ""))


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    out = tmp_path_factory.mktemp("book")
    main(["book", "--out", str(out)])   # what `make book` runs
    root = out / "html"
    pages = {}
    for page in root.rglob("*.html"):
        if "_static" not in page.relative_to(root).parts:   # the theme's own template snippets
            parser = _Links()
            parser.feed(page.read_text())
            pages[page.resolve()] = parser
    return root, pages


def test_the_site_has_a_page_with_the_figures_of_every_notebook(site):
    root, pages = site
    for name, nb in TEACHER.items():
        page = (root / "notebooks" / name).with_suffix(".html").resolve()
        assert page in pages, f"no page for {name}"
        figures = sum(1 for cell in nb.cells if cell.cell_type == "code" for output in cell.get("outputs", [])
                      if any(key.startswith("image/") for key in output.get("data", {})))
        shown = [src for src in pages[page].images if (page.parent / unquote(src)).exists()]
        assert figures >= 1 and len(shown) >= figures, f"{name}: {len(shown)} of {figures} figures on its page"
    for extra in ("notation", "references", "REPRODUCTION", "license"):
        assert (root / f"{extra}.html").exists()


def test_the_site_has_no_broken_internal_link_and_renders_math_offline(site):
    root, pages = site
    broken = []
    for page, parser in pages.items():
        for link in parser.links:
            parts = urlsplit(link)
            if parts.scheme or link.startswith("//"):
                continue
            target = (page.parent / unquote(parts.path)).resolve() if parts.path else page
            if not target.exists() or (parts.fragment and target in pages and parts.fragment not in pages[target].ids):
                broken.append(f"{page.relative_to(root.resolve())}: {link}")
    assert not broken, broken[:10]
    intro = (root / "intro.html").read_text()
    assert 'src="_static/mathjax/tex-chtml.js"' in intro and (root / "_static/mathjax/tex-chtml.js").exists()


def test_the_landing_page_lists_every_notebook_with_its_time(site):
    root, _ = site
    text = html.unescape(re.sub(r"<[^>]+>", " ", (root / "intro.html").read_text()))
    text = " ".join(text.split())
    for stem, title, minutes in handout.learning_path():
        assert minutes, f"{stem}: no **Time:** line in its first cell"
        assert f"{' '.join(title.split())} {minutes} min" in text, f"{stem} is not on the landing page with its time"
    for word in ("Prerequisites", "For whom", "learning path", "CC BY 4.0"):
        assert word in text

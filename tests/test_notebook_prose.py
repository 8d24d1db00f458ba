"""The notebooks say only what their outputs show (issue 28).

Two kinds of check read the notebooks' JSON (no execution):

* one regression test per contradiction the issue found, failing if its sentence comes back;
* a general rule over every Markdown cell of every notebook: a result typed by hand fails. A result is
  anything that changes when a model is retrained or a profile changes: a measured decimal ("0.57")
  or percentage ("57 %"), a count out of a total ("7 of 10"), an epoch count ("36 epochs", "a few
  epochs"), a profile statement ("`course_run` uses the `demo` profile's epochs", "`demo` on a CPU") or
  a verdict on rows ("one seed cannot rank these rows"). Such a sentence belongs in the code cell that
  has the value (an f-string, or ``IPython.display.Markdown``), or in an assert.

What the rule allows, visibly:

* the papers' own numbers quoted as theirs: the sentence names its source ("the paper", "DAH's
  paper", "the papers'", "(paper)", "Table 3", "Eq. 13", "DPFAH reports ...");
* theory and constants: anything inside LaTeX math (``$...$``) or inline code, the numbers of
  :data:`CONSTANTS` (each with its reason), or a whole cell tagged ``theory`` or ``papers-numbers``
  (Jupyter: View > Cell Toolbar > Tags; the tag is in the cell's metadata).

Run one notebook: ``python -m pytest tests/test_notebook_prose.py -k 05_dpfah``.
"""

from __future__ import annotations

import inspect
import json
import re
from dataclasses import dataclass
from pathlib import Path

import pytest

from hashlib_tutorial.plotting import plot_pr_curves

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
ALLOW_TAGS = {"theory", "papers-numbers"}

# Numbers that are constants or theory, each allowed only in a sentence that says what it is (the context
# pattern), with the reason. A typed number not in here, outside math and code, is a result unless its
# sentence names a paper as its source.
CONSTANTS = {
    "0.1": (r"chance|balanced classes|ten classes|a tenth|in ten\b|validation",
            "the chance level of ten balanced classes; the validation fraction"),
    "0.5": (r"balanced|chance|never change|threshold|half",
            "a balanced bit; the chance of a random bit; the threshold of DAH's outputs"),
    "0.62": (r"sigma|never drops|weight", "sigma(1/2), SimAM's smallest weight"),
    "1.62": (r"factor|stem", "1 + sigma(1/2), DPFAH's smallest stem factor"),
    "1.1": (r"band|relax", "the edge of DPFAH's quantisation band (the paper's relaxation)"),
    "10 %": (r"validation", "the validation fraction (val_fraction)"),
}


def allowed_constant(phrase: str, sentence: str) -> bool:
    context = CONSTANTS.get(phrase) or CONSTANTS.get(phrase.replace(" ", "").replace("%", " %"))
    return bool(context and re.search(context[0], sentence, re.I))


# ----------------------------------------------------------------------------------------- the rule
MATH = re.compile(r"\$\$.*?\$\$|\$[^$\n]+\$", re.S)
CODE = re.compile(r"```.*?```|`[^`\n]*`", re.S)
LINK_TARGET = re.compile(r"\]\([^)]*\)|<[^>]+>|https?://\S+|doi:\S+|arXiv:\S+")
SENTENCE_END = re.compile(r"(?<=[.!?:;])\s+(?=[A-Z*(\[|])|\n\s*(?=[-*]\s|\d+\.\s|\||#)|\n\s*\n")

NUMBER_WORDS = r"one|two|three|four|five|six|seven|eight|nine|ten"
PROFILE = r"\b(?:demo|quick|cpu)"
RESULT_PATTERNS = {
    "a measured decimal": re.compile(r"(?<![\w.,/-])(?<!version )\d*\.\d+(?![\w.]*\d)(?!\s*(?:px|bits?)\b)(?!\s?%)"),
    "a measured percentage": re.compile(r"(?<![\w.])\d+(?:\.\d+)?\s?%"),
    "a count out of a total": re.compile(rf"(?<![\w.])(?:\d[\d,]*|{NUMBER_WORDS}) (?:out )?of (?:the |its |their |all )?"
                                         rf"(?:\d[\d,]*|{NUMBER_WORDS})\b(?! (?:classes|bits|per class))", re.I),
    "a counted result": re.compile(r"(?<![\w.])(?<!notebook )(?<!step )(?<!section )\d[\d,]*\s+(?:\w+\s+){0,2}"
                                   r"(?:tie(?![\w-])|tied|are correct|correct results?"
                                   r"|wrong results?|distinct codes)\b", re.I),
    "an epoch count": re.compile(r"\b(?:\d[\d,]*(?:\s*(?:-|to)\s*\d+)?|a few|few|several|many)\s+(?:CPU\s+|more\s+)?epochs?\b", re.I),
    "a profile statement": re.compile(
        rf"{PROFILE}\s+profile'?s?\s+(?:epochs?|budget)\b"
        rf"|\bcourse_run\b[^.]*{PROFILE}\s+profile\b|{PROFILE}\s+profile\b[^.]*\bcourse_run\b"
        rf"|{PROFILE}\s+(?:profile\s+)?on an? (?:CPU|GPU)\b"
        rf"|\b(?:the notebooks?|this notebook|the course)\s+(?:use|uses|run|runs|trains?)\s+(?:the\s+)?(?:demo|quick|cpu)\s+profile\b",
        re.I),
    "a verdict on rows": re.compile(r"\b(?:seeds?|runs?|rows?)\b[^.]{0,40}\b(?:cannot|can't|could not|does not) "
                                    r"(?:rank|tell|separate|show a difference|distinguish)\b|\bno measurable difference\b"
                                    r"|\bdiffer(?:s|ence is)? measurabl[ey]\b|\bwithin what another seed\b", re.I),
}
PAPER_SOURCE = re.compile(
    r"\b(?:the|its|their|each|a|one|this|that|DAH's|DPFAH's|ADMTH's|DPSH's|SimAM's|CBAM's)\s+papers?\b(?!\s+profiles?)"
    r"|\bpapers'|\(paper\)|\bTables?\s+\d|\bEqs?\.\s*\d|\bFigure\s+\d+ of\b"
    r"|\b(?:DAH|DPFAH|ADMTH|DPSH|DSH|SimAM|CBAM|SE|ITQ|LSH)\s+(?:also\s+)?(?:reports?|reported|states?|stated)\b"
    r"|\b(?:reported|published) (?:by|in)\b", re.I)
# Between a paper's name and the number, one of these words makes the number ours again.
OURS = re.compile(r"\b(?:our|ours|we|here|this notebook|the course|your|course_run)\b", re.I)


@dataclass(frozen=True)
class TypedResult:
    notebook: str
    cell: int
    first_line: str
    kind: str
    phrase: str
    sentence: str

    def __str__(self) -> str:
        return (f"{self.notebook} cell {self.cell} ({self.first_line!r}): {self.kind} typed in Markdown, "
                f"{self.phrase!r} in: {self.sentence!r}")


HOW_TO_FIX = ("Fix: print the sentence from the code cell that has the value (an f-string, or "
              "IPython.display.Markdown), or assert it there. A paper's own number: name the source in the "
              "sentence ('the paper', 'Table 3', 'Eq. 13', 'DPFAH reports'). Theory or a constant: write it "
              "in LaTeX math, add it to CONSTANTS in tests/test_notebook_prose.py with its reason, or tag the "
              "cell 'theory' (View > Cell Toolbar > Tags).")


def _code(match: re.Match) -> str:
    """Inline code: a plain name without digits (`demo`, `course_run`) is read as a word, the rest is not read."""
    inner = match.group(0).strip("`")
    return inner if re.fullmatch(r"[A-Za-z_][\w./<>-]*", inner) and not re.search(r"\d", inner) else " `code` "


def prose_text(markdown: str) -> str:
    """Markdown without what the rule does not read: math, code, link targets, HTML tags, URLs."""
    markdown = CODE.sub(_code, markdown)
    for pattern, keep in ((MATH, " $math$ "), (LINK_TARGET, "]")):
        markdown = pattern.sub(keep, markdown)
    return markdown


def sentences(markdown: str) -> list[str]:
    text = re.sub(r"(?m)^(#.*)$", r"\n\n\1\n\n", prose_text(markdown))  # a heading is a sentence of its own
    parts = SENTENCE_END.split(text)
    return [" ".join(part.split()) for part in parts if part.strip()]


def quoted_from_a_paper(sentence: str, start: int, end: int) -> bool:
    """Whether the phrase at [start, end) is a paper's number: a source named in its sentence, and no "our",
    "we", "here" ... between the source and the phrase."""
    for marker in PAPER_SOURCE.finditer(sentence):
        between = sentence[marker.end():start] if marker.start() < start else sentence[end:marker.start()]
        if not OURS.search(between):
            return True
    return False


def typed_results_in(sentence: str) -> list[tuple[str, str]]:
    """(kind, phrase) of every typed result in one sentence that the rule does not allow."""
    found, spans = [], []
    for kind, pattern in RESULT_PATTERNS.items():
        for match in pattern.finditer(sentence):
            phrase = match.group(0).strip()
            if allowed_constant(phrase, sentence):
                continue
            if any(a <= match.start() < b for a, b in spans) or quoted_from_a_paper(sentence, *match.span()):
                continue
            spans.append(match.span())
            found.append((kind, phrase))
    return found


def markdown_cells(path: Path) -> list[tuple[int, dict]]:
    cells = json.loads(path.read_text())["cells"]
    return [(i, cell) for i, cell in enumerate(cells) if cell["cell_type"] == "markdown"]


def source(cell: dict) -> str:
    return "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]


def typed_results(path: Path) -> list[TypedResult]:
    """Every sentence of the notebook's Markdown that types a result the rule does not allow."""
    found = []
    for index, cell in markdown_cells(path):
        if ALLOW_TAGS & set(cell.get("metadata", {}).get("tags", [])):
            continue
        text = source(cell)
        first_line = text.strip().splitlines()[0] if text.strip() else ""
        for sentence in sentences(text):
            for kind, phrase in typed_results_in(sentence):
                found.append(TypedResult(path.name, index, first_line[:80], kind, phrase, sentence[:300]))
    return found


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_markdown_types_no_result(path):
    found = typed_results(path)
    assert not found, f"{len(found)} typed result(s) in {path.name}:\n" + "\n".join(map(str, found)) + "\n" + HOW_TO_FIX


@pytest.mark.parametrize("sentence", [
    "DPFAH reaches 0.57 mAP after 36 epochs.",
    "The model with SimAM finds 7 of 10 correct results, 57 % of them at distance 0.",
    "`course_run` uses the `demo` profile's epochs on the quick protocol.",
    "The course profile is `demo` on a CPU and `quick` on a GPU.",
    "One seed cannot rank these rows.",
    "Points: our quick runs (32 px, random initialisation, a few CPU epochs).",
])
def test_the_rule_catches_a_typed_result(sentence):
    assert typed_results_in(" ".join(sentences(sentence))) or any(typed_results_in(s) for s in sentences(sentence))


def test_the_rule_catches_a_typed_result_in_a_notebook_cell_and_says_how_to_fix_it(tmp_path):
    notebook = {"cells": [{"cell_type": "markdown", "metadata": {}, "source": ["### 5. Results\n",
                           "The full model reaches 0.57 mAP after 36 epochs."]},
                          {"cell_type": "markdown", "metadata": {"tags": ["theory"]}, "source": "Chance is 0.27 here."}],
                "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    path = tmp_path / "99_synthetic.ipynb"
    path.write_text(json.dumps(notebook))
    found = typed_results(path)
    assert {(r.cell, r.kind, r.phrase) for r in found} == {(0, "a measured decimal", "0.57"), (0, "an epoch count", "36 epochs")}
    assert str(found[0]).startswith("99_synthetic.ipynb cell 0 ('### 5. Results'): a measured decimal typed in Markdown, '0.57'")


@pytest.mark.parametrize("sentence", [
    "DPFAH reports mAP@ALL 0.838 / 0.845 at 16 / 32 bits on the `cifar10` protocol.",
    "The paper trains the full network for 100 epochs; its 0.923 at 48 bits is not a target.",
    "ADMTH's Table 3 reports 209.6 s against 629.8 s.",
    "Every weight lies in $[\\sigma(1/2), 1) \\approx [0.62, 1)$.",
    "Chance is 0.1 with ten balanced classes.",
    "Set `--set 'backbone_kwargs={\"width\": 0.5}'` to widen it.",
    "See [doi:10.1038/s41598-022-11217-5](https://doi.org/10.1038/s41598-022-11217-5).",
    "Train one model of each method with `make demo` (the cell prints the epochs).",
])
def test_the_rule_allows_papers_theory_and_constants(sentence):
    assert not [r for s in sentences(sentence) for r in typed_results_in(s)]


# ------------------------------------------------------------- regressions: the contradictions
def notebook(stem: str) -> Path:
    path = ROOT / "notebooks" / f"{stem}.ipynb"
    if not path.exists():
        pytest.skip(f"no {path.name}")
    return path


def markdown_matches(path: Path, pattern: str) -> list[str]:
    regex = re.compile(pattern, re.I | re.S)
    return [f"{path.name} cell {i}: {m.group(0)!r}" for i, cell in markdown_cells(path)
            for m in regex.finditer(" ".join(source(cell).split()))]


def all_markdown_matches(pattern: str) -> list[str]:
    return [hit for path in NOTEBOOKS for hit in markdown_matches(path, pattern)]


def test_contradiction_1_the_course_profile_is_not_demo_on_a_cpu():
    # 00 said "`demo` on a CPU ... `quick` on a GPU" while its CPU output printed "profile quick"
    assert not all_markdown_matches(r"`?demo`? (?:profile )?on an? CPU|`?quick`? (?:profile )?on an? GPU")


def test_contradiction_2_course_run_does_not_use_the_demo_profiles_epochs():
    # 04 (cells 15, 47) and 05 (cell 11): "course_run uses the demo profile's epochs"; the runs had the quick profile's
    assert not all_markdown_matches(r"`?demo`? profile'?s? epochs|course_run[^.]*`?demo`? profile")


def test_contradiction_3_no_typed_verdict_that_one_seed_cannot_rank_the_rows():
    # 05 (cells 21, 37): "one seed cannot rank these rows", while the report's rows printed below called it measurable
    assert not all_markdown_matches(r"cannot rank (?:these|the) rows|one seed cannot (?:rank|tell|separate)")


def test_contradiction_4_the_reproduction_table_reads_the_results_it_announces():
    # 07 (cell 34) announced the `make demo` results "shown here" and read results/quick, printing "not found"
    path = notebook("07_evaluation")
    cells = json.loads(path.read_text())["cells"]
    for i, cell in enumerate(cells[:-1]):
        text = " ".join(source(cell).split())
        if cell["cell_type"] == "markdown" and re.search(r"make demo|results/demo", text) and "shown here" in text:
            following = next(c for c in cells[i + 1:] if c["cell_type"] == "code")
            assert "demo" in source(following), f"07 cell {i} announces the demo results; the next code cell reads another folder"
            printed = "".join("".join(o.get("text", "")) for o in following.get("outputs", []))
            assert not ("not found" in printed and (ROOT / "results" / "demo" / "results.json").exists()), \
                f"07 cell {i} announces the demo results, the cell after it prints {printed.strip()!r}"


def test_contradiction_5_08_does_not_say_it_checks_only_the_knn_accuracy_while_it_asserts_the_silhouette():
    path = notebook("08_tsne")
    code = " ".join(source(c) for c in json.loads(path.read_text())["cells"] if c["cell_type"] == "code")
    asserts_silhouette = re.search(r"assert[^\n]*silhouette|silhouette[^\n]*\bassert\b", code) or "check(" in code and "silhouette" in code
    claims_only_knn = markdown_matches(path, r"check(?:s)? only the \$?k\$?-NN|only the \$?k\$?-NN accuracy")
    assert not (asserts_silhouette and claims_only_knn), claims_only_knn


def test_contradiction_6_the_gallery_does_not_claim_shared_shape_colour_background():
    # 10 (cell 37): galleries "show what those images share with the query (shape, colour, background)"; they showed class buckets
    assert not markdown_matches(notebook("10_retrieval_gallery"),
                                r"share with the query|\(shape, colou?r,? (?:and )?background\)")


def test_contradiction_7a_the_search_order_of_course_run_is_the_codes():
    # 04 (cell 2) left the committed checkpoints out of course_run's search order
    places = {"checkpoints": r"checkpoints(?:/<profile>|/quick)?/",
              "results": r"results/<profile>/runs|make demo|reproduce`? runs?\b", "runs/course": r"runs/course"}
    wrong = []
    for path in NOTEBOOKS:
        for i, cell in markdown_cells(path):
            text = " ".join(source(cell).split())
            where = {name: m.start() for name, p in places.items() if (m := re.search(p, text))}
            if "course_run" not in text or len(where) < 2:  # not a description of the search order
                continue
            if "checkpoints" not in where or sorted(where, key=where.get) != [p for p in places if p in where]:
                wrong.append(f"{path.name} cell {i}: {sorted(where, key=where.get)}")
    assert not wrong, f"course_run looks in checkpoints/, then results/<profile>/runs/, then runs/course/: {wrong}"


def test_contradiction_7b_07s_pr_figure_is_hamming_ball_retrieval_in_its_title_and_caption():
    path = notebook("07_evaluation")
    cells = json.loads(path.read_text())["cells"]
    for i, cell in enumerate(cells):
        text = source(cell)
        if cell["cell_type"] == "markdown" and re.search(r"Figure \d+: precision-recall", text):
            plotted = next(source(c) for c in reversed(cells[:i]) if c["cell_type"] == "code")
            title = re.search(r"plot_pr_curves\([^)]*title=([^,)]+)", plotted)
            title = title.group(1) if title else str(inspect.signature(plot_pr_curves).parameters["title"].default)
            ball, ranking = "Hamming-ball" in text or "Hamming ball" in text, "ranking" in title
            assert not (ball and ranking), f"07 cell {i}: the caption says Hamming-ball retrieval, the figure's title {title}"


def test_contradiction_7c_no_few_cpu_epochs_for_runs_of_dozens():
    assert not all_markdown_matches(r"a few (?:CPU )?epochs")


# ------------------------------------------------------------------------------------------ references
# The three papers, linked the same way in every notebook's References. DAH's DOI could not be verified
# offline: its Semantic Scholar record stands in until someone confirms the DOI.
PAPER_LINKS = {
    "DAH": (r"Deep Attention-Based Hash", "https://www.semanticscholar.org/paper/5fcae7bab96ace5b753c1e54591c670bbdb10d64"),
    "DPFAH": (r"parameter-free attention hashing", "https://doi.org/10.1038/s41598-022-11217-5"),
    "ADMTH": (r"Multi-Task Hash Learning", "https://doi.org/10.3390/electronics12051226"),
}
LINK = re.compile(r"\[([^\]]*)\]\(([^)\s]*)\)")
NO_LINK_NEEDED = re.compile(r"^(?:Package|Code):")


def references(path: Path) -> list[str]:
    """The list items of the notebook's References section (after its '## References' heading)."""
    for _, cell in markdown_cells(path):
        text = source(cell)
        if "## References" in text:
            section = text[text.index("## References") + len("## References"):]
            section = section.split("\n## ")[0]
            return [line.strip() for line in section.strip().splitlines() if line.strip()]
    return []


def reference_problems(line: str) -> list[str]:
    """What is broken in one reference line: its list marker, emphasis, brackets, links."""
    problems = []
    if not re.match(r"[*-] \S", line):
        problems.append("not a list item ('* ' or '- ')")
    body = re.sub(r"`[^`]*`", "", MATH.sub("", line[2:]))
    if body.count("[") != body.count("]") or body.count("(") != body.count(")"):
        problems.append("unbalanced brackets or parentheses")
    links = LINK.findall(body)
    problems += [f"link {url!r} is not https" for _, url in links if not url.startswith("https://")]
    problems += [f"empty link text for {url!r}" for text, url in links if not text.strip()]
    stars = [m.start() for m in re.finditer(r"(?<!\*)\*(?!\*)", LINK.sub("L", body))]
    plain = LINK.sub("L", body)
    if len(stars) % 2:
        problems.append("an odd number of '*'")
    for opening, closing in zip(stars[::2], stars[1::2]):
        if plain[opening + 1: opening + 2].isspace() or plain[closing - 1: closing].isspace() or closing == opening + 1:
            problems.append(f"emphasis that does not render: {plain[opening:closing + 1]!r}")
    if not links and not NO_LINK_NEEDED.match(line[2:]):
        problems.append("no link (a DOI at https://doi.org/..., or an https page)")
    return problems


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_every_reference_line_parses_and_links(path):
    lines = references(path)
    assert lines, f"{path.name} has no References section"
    broken = [f"{line[:90]!r}: {', '.join(problems)}" for line in lines if (problems := reference_problems(line))]
    assert not broken, f"{path.name}, References:\n" + "\n".join(broken)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_every_notebook_links_the_three_papers(path):
    text = "\n".join(references(path))
    missing = [name for name, (title, url) in PAPER_LINKS.items()
               if not re.search(title, text, re.I) or url not in text]
    assert not missing, f"{path.name}: the References do not link {missing} ({[PAPER_LINKS[m][1] for m in missing]})"
    for line in references(path):  # wherever a paper is named by its title, its link is on that line
        for name, (title, url) in PAPER_LINKS.items():
            for match in re.finditer(title, line, re.I):
                assert url in line, f"{path.name}: {name} cited without its link in {line[:120]!r}"


@pytest.mark.parametrize("line, problem", [
    ("* Z. Yang. Deep hashing. * ([doi:10.1038/x](https://doi.org/10.1038/x))Scientific Reports*, 2022.", "emphasis"),
    ("* A paper ([link](http://example.org)), 2020.", "not https"),
    ("* A paper without a link, *CVPR* 2018.", "no link"),
    ("* A paper ([link](https://example.org), *CVPR* 2018.", "unbalanced"),
])
def test_a_broken_reference_line_is_caught(line, problem):
    assert any(problem in p for p in reference_problems(line))


# -------------------------------------------------------------------------------------------- notation
# One notation across the course (book/notation.md): K is the number of bits of a code, everywhere, so
# ADMTH's code lengths are K_1 < ... < K_M, indexed by m; sigma is the sigmoid and nothing else, so a
# variance is s^2.
NOTATION_CLASHES = {
    "K used for the number of code lengths (write K_1 < ... < K_M, indexed by m)":
        re.compile(r"L_1 < L_2|<\s*L_K\b|\\sum_\{k=1\}\^\{K\s*-\s*1\}|\\sum_\{k=1\}\^\{K\}\s*L_|H_\{K\s*\+\s*1\}|\bL_k\s*\\times"),
    "sigma used for a variance or a standard deviation (write s^2, s)":
        re.compile(r"\\sigma\^2|\\sigma_\{?\w+\}?\^2|\\sigma_i\b|variance \$\\sigma"),
}


def notation_clashes(path: Path) -> list[str]:
    found = []
    for index, cell in markdown_cells(path):
        for name, pattern in NOTATION_CLASHES.items():
            found += [f"{path.name} cell {index}: {name}: {m.group(0)!r}" for m in pattern.finditer(source(cell))]
    return found


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_one_notation_k_is_bits_and_sigma_is_the_sigmoid(path):
    found = notation_clashes(path)
    assert not found, "notation clashes (see book/notation.md):\n" + "\n".join(found)


def test_the_notation_check_catches_the_two_known_clashes(tmp_path):
    cells = [r"ADMTH learns $L_1 < L_2 < \dots < L_K$ with $L_c = \sum_{k=1}^{K-1} \lVert H_{k+1} Q_k^\top - H_k \rVert_1$.",
             r"For a neuron $t$ in a channel with mean $\mu$ and variance $\sigma^2$, $e_t^* = 4(\sigma^2 + \lambda)/\dots$"]
    path = tmp_path / "99_notation.ipynb"
    path.write_text(json.dumps({"cells": [{"cell_type": "markdown", "metadata": {}, "source": c} for c in cells],
                                "metadata": {}, "nbformat": 4, "nbformat_minor": 5}))
    found = notation_clashes(path)
    assert any("cell 0: K used" in f for f in found) and any("cell 1: sigma used" in f for f in found)


def test_notebook_00_points_to_the_notation_page():
    text = " ".join(source(cell) for _, cell in markdown_cells(notebook("00_setup")))
    assert "book/notation.md" in text

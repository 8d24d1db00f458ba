# Two commands for a newcomer: `make demo` and `make test`. Both create .venv when it is missing.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
NBVAL := --nbval --nbval-current-env --nbval-sanitize-with notebooks/sanitize.cfg

.PHONY: setup demo checkpoints report test test-unit test-notebooks lab clean student book autograde

setup: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@echo "installing hashlib_tutorial and its dependencies into $(VENV) (once)"
	@$(PY) -m pip install --quiet --upgrade pip
	@$(PY) -m pip install --quiet -e ".[dev]"
	@touch $(STAMP)

# The demo trains from random weights into a fresh folder (the committed results/demo/ is the reference it
# prints beside its table); `make demo DEMO_OUT=runs/demo-<time>` again resumes an interrupted one.
DEMO_OUT ?= runs/demo-$(shell date +%Y%m%d-%H%M%S)
demo: setup
	$(PY) -m hashlib_tutorial reproduce --profile demo --out $(DEMO_OUT)

# The course's trained models (checkpoints/quick, committed): the notebooks open them instead of training.
checkpoints: setup
	$(PY) -m hashlib_tutorial checkpoints

# The reproduction report's run (REPRODUCTION.md): several hours on 2 cores; it resumes where it stopped, so run it in parts.
report: setup
	$(PY) -m hashlib_tutorial reproduce --profile cpu

test: setup
	$(PY) -m pytest tests $(wildcard notebooks/*.ipynb) $(if $(wildcard notebooks/*.ipynb),$(NBVAL))

test-unit: setup
	$(PY) -m pytest tests

test-notebooks: setup
	$(PY) -m pytest $(NBVAL) notebooks

# Teaching: the student edition (build/student/, no solutions, no outputs), the course site
# (build/book/html/index.html, from the committed notebooks, never executed), and one student's notebook graded.
student: setup
	$(PY) -m hashlib_tutorial student

book: setup
	$(PY) -m hashlib_tutorial book

autograde: setup
	@test -n "$(NB)" || (echo "usage: make autograde NB=path/to/student/04_dah.ipynb" && exit 2)
	$(PY) -m hashlib_tutorial autograde "$(NB)"

lab: setup
	$(VENV)/bin/jupyter lab notebooks

clean:
	rm -rf $(VENV) .pytest_cache

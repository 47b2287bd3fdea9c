# Two commands do everything on a fresh Linux machine with Python 3.11: `make demo` and `make test`.
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
# nbgrader shells out to `alembic`, which lives in the venv.
export PATH := $(abspath $(VENV))/bin:$(PATH)

.PHONY: setup demo test mutants release release-check time-notebook bench grade clean mistakes-report browser-check

$(VENV)/.installed: pyproject.toml
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "Python 3.11 is needed: set PYTHON=/path/to/python3.11"; exit 1; }
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[test]'
	touch $@

setup: $(VENV)/.installed  ## create .venv and install the pinned dependencies

demo: setup  ## build a synthetic cohort, autograde it into the sqlite gradebook, print the score table
	$(PY) -m autograder demo

test: setup  ## the whole suite of the course (installs PostgreSQL for the gradebook tests where it can)
	AUTOGRADER_REQUIRE_POSTGRES=$$(sh tests/ensure_postgres.sh) $(PY) -m pytest -n 2 --dist loadgroup

mutants: setup  ## switch off each defence in a scratch copy; the tests claiming it must fail (about 45 minutes)
	$(PY) tests/mutants.py

release: setup  ## regenerate release/ from source/
	$(PY) -m autograder release

release-check: setup
	$(PY) -m autograder release --check

time-notebook: setup  ## how long Run All of each reference notebook takes in a real kernel
	$(PY) -m autograder time-notebook

clean:
	rm -rf demo bench .pytest_cache

bench: setup  ## stock nbgrader autograde vs python -m autograder grade on the same cohort
	$(PY) -m autograder bench

grade: setup  ## grade every submission of every assignment in submitted/ (only new or changed ones)
	$(PY) -m autograder grade all --changed-only

mistakes-report: setup  ## per test cell: how many banked mistakes its visible part catches on its own
	$(PY) -m autograder mistakes-report

browser-check: setup  ## release notebooks in JupyterLab + headless Chromium, set up as a student (needs chromium, playwright)
	$(PY) -m autograder browser-check

# Two commands set everything up on a fresh clone:
#   make demo   venv + install + run the default scenario and write its report
#   make test   venv + install with test extras + the whole suite (slow tests included)
PYTHON ?= python3.11
VENV   ?= .venv
BIN    := $(VENV)/bin
PY     := $(BIN)/python
# pytest-xdist spreads the suite over both cores of the CI machine.
PYTEST_ARGS ?= -n 2

.PHONY: demo test test-fast lint bench notebooks mutation clean

$(PY):
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "need $(PYTHON) (Python 3.11+) on PATH, or run: make PYTHON=python3 ..."; exit 2; }
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

# Stamp files make the install steps incremental: they rerun only when pyproject.toml changes.
$(VENV)/.installed: pyproject.toml | $(PY)
	$(PY) -m pip install --quiet -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml | $(PY)
	$(PY) -m pip install --quiet -e '.[test]'
	touch $@ $(VENV)/.installed

# The default scenario: a mixed fleet with client and server work, approvals, dependencies
# and a bulk operation. Writes runs/demo/ (trace, effective scenario, summary, report.html).
demo: $(VENV)/.installed
	$(BIN)/activitykit run scenarios/baseline.yaml --out runs/demo
	@echo "open runs/demo/report.html"

test: $(VENV)/.installed-test
	$(BIN)/ruff check .
	$(BIN)/pytest $(PYTEST_ARGS) -m "slow or not slow"

test-fast: $(VENV)/.installed-test
	$(BIN)/pytest $(PYTEST_ARGS)

# Re-execute notebooks/*.ipynb in place: their outputs are committed, so the repository shows
# them rendered; tests/test_notebooks.py fails when they are stale. Commit the result.
notebooks: $(VENV)/.installed-test
	$(PY) tools/notebooks.py

# Mutation score of the default conform run against the reference system (mutmut's mutants
# of the activitykit.server package), at each of SEEDS. All 890 take hours on two cores: a
# random sample of MUTANTS, MUTANTS=0 for all.
MUTANTS ?= 40
SEEDS ?= 0-4
JOBS ?= 2
mutation: $(VENV)/.installed-test
	$(PY) benchmarks/mutation_score.py --sample $(MUTANTS) --seeds $(SEEDS) --jobs $(JOBS)

lint: $(VENV)/.installed-test
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

clean:
	rm -rf $(VENV) runs .pytest_cache .hypothesis .ruff_cache

# The README's two commands: `make demo` (the main job) and `make test` (every test).
# Both create .venv and install the project with its dev extra when missing.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp

.PHONY: demo test lint bench clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

# Opens notebooks/01_quickstart.ipynb in JupyterLab; with no display (or CI, or
# JULEP_NB_HEADLESS=1) executes it headless and writes build/demo/01_quickstart.html.
demo: $(STAMP)
	$(PY) -m julep_nb.notebook_demo

# The test suite, then every notebook re-run and compared with its saved outputs.
test: $(STAMP)
	$(PY) -m pytest -q
	$(PY) -m pytest -q --nbval notebooks/ --nbval-sanitize-with notebooks/sanitize.cfg

lint: $(STAMP)
	$(VENV)/bin/ruff check julep_nb tests benchmarks
	$(VENV)/bin/ruff format --check julep_nb tests benchmarks
	$(VENV)/bin/mypy

bench: $(STAMP)
	$(PY) -m benchmarks --quick

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache

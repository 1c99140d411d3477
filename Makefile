# CAM Lab. `make lab` opens the notebooks, `make test` runs every test (quick profile).
# Both create .venv on first use; later calls reinstall only when pyproject.toml changed.

PYTHON ?= python3
VENV ?= .venv
PROFILE ?= quick
BIN := $(VENV)/bin
NOTEBOOKS := $(sort $(wildcard notebooks/[0-9]*.ipynb))

.PHONY: lab test run clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed-notebooks: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -e '.[notebooks]'
	touch $@

$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -e '.[notebooks,test]'
	touch $@ $(VENV)/.installed-notebooks

# Jupyter refuses to run as root unless told; containers often are root.
LAB_FLAGS := $(if $(filter 0,$(shell id -u)),--allow-root)

lab: $(VENV)/.installed-notebooks
	$(BIN)/jupyter lab notebooks/ $(LAB_FLAGS) $(ARGS)

# Lint, then camlib's unit tests and every notebook run by nbval (--nbval-lax: cells must not fail;
# their printed outputs are not compared). Settings live in pyproject.toml.
test: $(VENV)/.installed-test
	$(BIN)/ruff check camlib tests notebooks $(wildcard benchmarks)
	CAMLIB_PROFILE=quick MPLBACKEND=Agg $(BIN)/python -m pytest

# Execute every notebook headless with papermill: make run PROFILE=quick|full
run: $(VENV)/.installed-notebooks
	mkdir -p build/executed
	for notebook in $(NOTEBOOKS); do \
		$(BIN)/papermill "$$notebook" "build/executed/$$(basename $$notebook)" -p PROFILE $(PROFILE) || exit 1; \
	done

clean:
	rm -rf build .pytest_cache

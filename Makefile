# CAM Lab. `make lab` opens the notebooks, `make test` runs every test (quick profile).
# Both create .venv on first use; later calls reinstall only when pyproject.toml changed.

PYTHON ?= python3
VENV ?= .venv
PROFILE ?= quick
# make lab opens the student notebooks; FOLDER=notebooks opens the masters, with the solutions.
FOLDER ?= students
BIN := $(VENV)/bin
NOTEBOOKS := $(sort $(wildcard notebooks/[0-9]*.ipynb))

.PHONY: lab test test-seeds autograde-check gpu-check run clean students

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed-notebooks: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -e '.[notebooks]'
	touch $@

$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -e '.[notebooks,test]'
	touch $@ $(VENV)/.installed-notebooks

# The smallest environment a student gets: camlib[grading] alone. The autograder installs exactly that; make lab's
# and Colab's environments hold it (tests/repository/test_imports.py). The tests run the student notebooks and `otter run` in it.
STUDENT_VENV ?= build/envs/student

$(STUDENT_VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(STUDENT_VENV)
	$(STUDENT_VENV)/bin/python -m pip install -q -e '.[grading]'
	touch $@

# Jupyter refuses to run as root unless told; containers often are root.
LAB_FLAGS := $(if $(filter 0,$(shell id -u)),--allow-root)

lab: $(VENV)/.installed-notebooks
	$(BIN)/jupyter lab $(FOLDER)/ $(LAB_FLAGS) $(ARGS)

# Lint, then tests/library (camlib's unit tests) and tests/repository: every notebook runs once, as its
# student notebook in the student environment with each answer tried at its check (the master's cells all run
# there), notebooks 01 and 04 again with another seed, packaging, the book, the browser. `pytest notebooks`
# runs the masters alone under nbval. Settings live in pyproject.toml.
test: $(VENV)/.installed-test $(STUDENT_VENV)/.installed
	$(BIN)/ruff check camlib tests notebooks benchmarks scripts conftest.py
	CAMLIB_STUDENT_PYTHON=$(abspath $(STUDENT_VENV))/bin/python CAMLIB_PROFILE=quick MPLBACKEND=Agg $(BIN)/python -m pytest

# `otter run` of every notebook's solution (full marks) and unanswered notebook (zero) in the student environment,
# against the autograders Otter Assign builds; CI runs notebook 01 only.
autograde-check: $(VENV)/.installed-test $(STUDENT_VENV)/.installed
	CAMLIB_AUTOGRADE_ALL=1 CAMLIB_STUDENT_PYTHON=$(abspath $(STUDENT_VENV))/bin/python CAMLIB_PROFILE=quick MPLBACKEND=Agg \
		$(BIN)/python -m pytest tests/repository/test_exercises.py -k autograder_gives

# Every notebook with seeds 1, 2 and 3 (quick profile): their asserts must hold for any seed. build/seeds/.
SEEDS ?= 1 2 3
test-seeds: $(VENV)/.installed-notebooks
	SEEDS="$(SEEDS)" PROFILE=$(PROFILE) PAPERMILL=$(BIN)/papermill bash scripts/seed_sweep.sh

# On a machine with an NVIDIA GPU: every notebook under nbval on CUDA and three benchmarks; tables in build/gpu-check/.
gpu-check: $(VENV)/.installed-test
	PYTHON=$(BIN)/python bash scripts/gpu_check.sh build/gpu-check

# Execute every notebook headless with papermill: make run PROFILE=quick|full
run: $(VENV)/.installed-notebooks
	mkdir -p build/executed
	for notebook in $(NOTEBOOKS); do \
		env -u MPLBACKEND $(BIN)/papermill "$$notebook" "build/executed/$$(basename $$notebook)" -p PROFILE $(PROFILE) || exit 1; \
	done

# Student notebooks (students/, committed: the badges open them) and autograder zips (build/autograder/) from
# the Otter-Grader masters in notebooks/, by Otter Assign. Run after editing a notebook; a test fails until then.
students: $(VENV)/.installed-notebooks
	$(BIN)/python scripts/build_students.py notebooks students --autograder build/autograder

clean:
	rm -rf build .pytest_cache

# The static book: every notebook that build/executed/ lacks, or holds older than its source, is executed
# first with papermill (PROFILE as above; `make run` re-executes them all), then build/book/ gets one HTML
# page per notebook, figures inside, and index.html; it opens from disk, offline. A notebook that fails is
# kept as build/executed/NAME.ipynb.failed. MPLBACKEND is unset so that the kernel keeps its inline figures.
EXECUTED := $(NOTEBOOKS:notebooks/%=build/executed/%)

.PHONY: book figures slides

build/executed/%.ipynb: notebooks/%.ipynb | $(VENV)/.installed-notebooks
	mkdir -p $(@D)
	env -u MPLBACKEND $(BIN)/papermill "$<" "$@" -p PROFILE $(PROFILE) || { mv -f "$@" "$@.failed"; exit 1; }

book: $(EXECUTED) | $(VENV)/.installed-notebooks
	$(BIN)/python scripts/build_book.py --executed build/executed --out build/book

# Reveal.js slides of the executed notebooks (build/slides/NN_*.slides.html), by nbconvert: sections become
# slides, figures and exercises sub-slides (scripts/build_slides.py). Presenting loads reveal.js from its CDN.
slides: $(EXECUTED) | $(VENV)/.installed-notebooks
	$(BIN)/python scripts/build_slides.py --executed build/executed --out build/slides

# The README's figures (docs/figures/*.png), copied out of the executed notebooks.
figures: $(EXECUTED) | $(VENV)/.installed-notebooks
	$(BIN)/python scripts/readme_figures.py --executed build/executed --out docs/figures

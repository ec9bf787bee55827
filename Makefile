# MAML with JAX: build the book and run its tests.
#   make book       run every chapter (nbval, the pinned stack) and build the website from
#                   those runs into _build/html
#   make test       run every check: the sources, every chapter on both stacks, the site
#   make test-site  build (or reuse) the book and check every page in headless Chromium
#   make test-colab run every chapter on Colab's stack (requirements-colab.txt)
#   make sweep      run every chapter on both stacks x two CPU code paths x four keys
#   make sync       regenerate each book/*.ipynb from its .md after editing the .md
#   make clean      remove build outputs (keeps the environments); distclean removes them
# Each creates .venv and installs requirements.txt on first use (.venv-colab for Colab's).

SHELL := /bin/bash
.SHELLFLAGS := -o pipefail -c
.DELETE_ON_ERROR:

MIN_PY   := 3.12
COLAB_PY := 3.13
# The first Python >= MIN_PY on this machine (python3 first); `make PYTHON=...` chooses.
PYTHON       ?= $(shell tools/find-python $(MIN_PY))
# Colab's stack runs on Colab's Python and no other.
COLAB_PYTHON ?= $(shell tools/find-python $(COLAB_PY) exact)

VENV        := .venv
BIN         := $(VENV)/bin
STAMP       := $(VENV)/.installed
COLAB_VENV  := .venv-colab
COLAB_STAMP := $(COLAB_VENV)/.installed

# The one list of chapters is _toc.yml (tools/book.py reads it): book/NN_topic, in order.
CHAPTERS := $(notdir $(shell python3 tools/book.py chapters 2>/dev/null || $(PYTHON) tools/book.py chapters))
# The evidence pages among them (book/NNb_topic): the checks behind a chapter that cost
# minutes of compute.
EVIDENCE := $(notdir $(shell python3 tools/book.py evidence 2>/dev/null || $(PYTHON) tools/book.py evidence))

# A non-interactive MPLBACKEND (Agg, say) in the environment would silently drop every figure.
unexport MPLBACKEND
export PIP_DISABLE_PIP_VERSION_CHECK := 1

# Every chapter runs once per stack, with nbval (conftest.py), each .ipynb alone in an
# empty folder under _build/run/, and its executed copy kept in _build/executed/STACK/.
# The pinned stack's copies are what the website shows; Colab's are kept for comparison.
CELL_TIMEOUT ?= 900
RUN      := _build/run
EXECUTED := _build/executed
PINNED_RUNS := $(CHAPTERS:%=$(EXECUTED)/pinned/%.ipynb)
COLAB_RUNS  := $(CHAPTERS:%=$(EXECUTED)/colab/%.ipynb)
# The pinned stack runs with XLA's AVX2 code for the CPU (what a processor without AVX-512
# gets), Colab's with XLA's default.
PINNED_XLA_FLAGS ?= --xla_cpu_max_isa=AVX2
COLAB_XLA_FLAGS  ?=
# ONE_CORE=1 gives each run a CPU core of its own (tools/one-core), ONE_CORE= lets every
# run use every core with XLA's default thread pool. The default is a core each where the
# machine has just two, one per run of `make test`: measured on a 2-core machine, the
# chapters ran in 0.91 of the time with it (1,182 s against 1,297 s for all of them).
NPROC    := $(shell getconf _NPROCESSORS_ONLN 2>/dev/null || echo 0)
ONE_CORE ?= $(if $(filter 2,$(NPROC)),1,)
cpus = $(if $(ONE_CORE),tools/one-core)
# nbval with the book's options, for one stack: $(call nbval,STACK,PYTHON,EXTRA OPTIONS)
nbval = $(BIN)/python -m pytest -q --no-header --nbval-lax \
        --nbval-cell-timeout=$(CELL_TIMEOUT) --book-kernel=$(2) $(3) \
        --book-save=$(EXECUTED)/$(1)

.PHONY: help book site test test-sources test-pinned test-colab test-site check-setup \
        chromium screenshot sync clean distclean venv venv-colab sweep bench bench-torch

help:
	@sed -n '2,10p' Makefile | sed 's/^# *//'

# --- environments -------------------------------------------------------------------

venv: $(STAMP)

$(STAMP): requirements.txt
	@test -n "$(PYTHON)" || { echo "error: the book needs Python >= $(MIN_PY) (jax 0.12 and numpy 2.5 do), and none was found; 'python3' is $$(python3 --version 2>&1). Install one (apt-get install python3.12, pyenv install 3.12, ...) or run 'make PYTHON=/path/to/python3.12'" >&2; exit 1; }
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < tuple(map(int, "$(MIN_PY)".split("."))))' || { echo "error: $(PYTHON) is Python $$($(PYTHON) -c 'import platform; print(platform.python_version())'); the book needs Python >= $(MIN_PY) (run 'make PYTHON=python3.12', say)" >&2; exit 1; }
	@if [ -x $(BIN)/python ] && ! $(BIN)/python -c 'import sys; sys.exit(sys.version_info < tuple(map(int, "$(MIN_PY)".split("."))))'; then echo "$(VENV) has an older Python: making it again"; rm -rf $(VENV); fi
	@echo "The pinned stack: $(PYTHON) (Python $$($(PYTHON) -c 'import platform; print(platform.python_version())'))"
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV) || { echo "error: could not create the virtual environment $(VENV) with '$(PYTHON) -m venv' (on Debian/Ubuntu: apt-get install python3-venv)" >&2; rm -rf $(VENV); exit 1; }
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt
	@touch $@

venv-colab: $(COLAB_STAMP)

$(COLAB_STAMP): requirements-colab.txt
	@test -n "$(COLAB_PYTHON)" || { echo "error: Colab's stack runs on Colab's Python, $(COLAB_PY), and this machine has none on the PATH or in pyenv. Install Python $(COLAB_PY) or run 'make COLAB_PYTHON=/path/to/python$(COLAB_PY)'" >&2; exit 1; }
	@$(COLAB_PYTHON) -c 'import sys; sys.exit(sys.version_info[:2] != tuple(map(int, "$(COLAB_PY)".split("."))))' || { echo "error: $(COLAB_PYTHON) is Python $$($(COLAB_PYTHON) -c 'import platform; print(platform.python_version())'); Colab's stack needs Python $(COLAB_PY), as Colab runs" >&2; exit 1; }
	@if [ -x $(COLAB_VENV)/bin/python ] && ! $(COLAB_VENV)/bin/python -c 'import sys; sys.exit(sys.version_info[:2] != tuple(map(int, "$(COLAB_PY)".split("."))))'; then echo "$(COLAB_VENV) has another Python: making it again"; rm -rf $(COLAB_VENV); fi
	@echo "Colab's stack: $(COLAB_PYTHON) (Python $$($(COLAB_PYTHON) -c 'import platform; print(platform.python_version())'))"
	@test -x $(COLAB_VENV)/bin/python || $(COLAB_PYTHON) -m venv $(COLAB_VENV) || { echo "error: could not create $(COLAB_VENV) with '$(COLAB_PYTHON) -m venv'" >&2; rm -rf $(COLAB_VENV); exit 1; }
	$(COLAB_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(COLAB_VENV)/bin/python -m pip install --quiet -r requirements-colab.txt
	@touch $@

# --- running the chapters -----------------------------------------------------------

$(EXECUTED)/pinned/%.ipynb: book/%.ipynb conftest.py $(STAMP)
	@rm -rf $(RUN)/pinned/$* && mkdir -p $(RUN)/pinned/$* && cp $< $(RUN)/pinned/$*/
	XLA_FLAGS="$$(echo $$XLA_FLAGS $(PINNED_XLA_FLAGS))" $(cpus) \
	  $(call nbval,pinned,$(BIN)/python) \
	  $(RUN)/pinned/$*/$*.ipynb 2>&1 | sed -u 's/^/[pinned] /'

$(EXECUTED)/colab/%.ipynb: book/%.ipynb conftest.py $(STAMP) $(COLAB_STAMP)
	@rm -rf $(RUN)/colab/$* && mkdir -p $(RUN)/colab/$* && cp $< $(RUN)/colab/$*/
	XLA_FLAGS="$$(echo $$XLA_FLAGS $(COLAB_XLA_FLAGS))" $(cpus) \
	  $(call nbval,colab,$(COLAB_VENV)/bin/python,--book-colab) \
	  $(RUN)/colab/$*/$*.ipynb 2>&1 | sed -u 's/^/[colab] /'

# Every chapter on one stack, one chapter at a time.
test-pinned: $(STAMP)
	@$(MAKE) --no-print-directory -j1 $(PINNED_RUNS)

test-colab: $(STAMP) $(COLAB_STAMP)
	@$(MAKE) --no-print-directory -j1 $(COLAB_RUNS)

# --- the website --------------------------------------------------------------------

# The site is built from the pinned stack's executed chapters (execution off in the
# build: tools/stage_site.py refuses a chapter whose execution is missing or stale).
book: $(STAMP)
	@$(MAKE) --no-print-directory test-pinned
	@$(MAKE) --no-print-directory site
	@echo
	@echo "The book is built: open file://$(CURDIR)/_build/html/index.html"

site: $(STAMP)
	$(BIN)/python tools/stage_site.py
	$(BIN)/jupyter-book build _build/site --path-output . --builder html -W -n --keep-going

# --- the tests ----------------------------------------------------------------------

# Before any chapter runs: the Pythons, the environments and the browser are there.
check-setup: $(STAMP) $(COLAB_STAMP) chromium

test-sources: $(STAMP)
	$(BIN)/python -m pytest tests/test_source.py

# Each chapter once on each stack, two runs at a time (a run keeps about one core busy),
# Colab's slower stack first for each chapter; each evidence page once, on the pinned
# stack (the website shows that run), the long ones first. `make test-colab` and
# `make sweep` run the evidence pages on Colab's stack too: all of them on both stacks
# would take `make test` past 30 minutes on 2 cores. Then the website, built from the
# pinned runs and checked page by page.
ALL_RUNS := $(EVIDENCE:%=$(EXECUTED)/pinned/%.ipynb) \
            $(foreach c,$(filter-out $(EVIDENCE),$(CHAPTERS)),$(EXECUTED)/colab/$(c).ipynb $(EXECUTED)/pinned/$(c).ipynb)

test: check-setup
	@$(MAKE) --no-print-directory test-sources
	@$(MAKE) --no-print-directory -j2 $(ALL_RUNS)
	@$(MAKE) --no-print-directory test-site

test-site: $(STAMP) chromium
	@$(MAKE) --no-print-directory book
	$(BIN)/python -m pytest tests/test_site.py tests/test_browser.py
	@echo "Screenshots of every page: $(CURDIR)/_build/screenshots/"

# The robustness sweep (long: about 1.5 hours on 2 cores); its report goes to _build/sweep/.
sweep: $(STAMP) $(COLAB_STAMP)
	$(BIN)/python tools/sweep.py --jobs 2

# The browser test drives this Chromium; Debian's package is installed if it is missing.
CHROMIUM ?= /usr/bin/chromium
export CHROMIUM

chromium:
	@test -x "$(CHROMIUM)" && exit 0; \
	if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	  echo "Chromium is missing; installing Debian's chromium package with apt-get"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	else \
	  echo "error: the browser test needs Chromium or Chrome at $(CHROMIUM), and this user cannot" \
	       "install it: run 'sudo apt-get install chromium' (Debian/Ubuntu), or" \
	       "'$(BIN)/python -m playwright install chromium' and then" \
	       "'make test CHROMIUM=\$$(ls -d ~/.cache/ms-playwright/chromium-*/chrome-linux/chrome)'," \
	       "or point CHROMIUM=/path/to/chrome at a browser you have" >&2; exit 1; \
	fi

# The README's picture of the book (assets/screenshot.png), from the built site.
screenshot: $(STAMP) chromium
	@$(MAKE) --no-print-directory book
	$(BIN)/python tools/readme_screenshot.py

sync: $(STAMP)
	$(BIN)/jupytext --to ipynb --update $(CHAPTERS:%=book/%.md)

# Speed benchmark of MAML implementations (bench/README.md); bench-torch adds PyTorch.
bench: $(STAMP)
	$(BIN)/python bench/maml_speed.py

bench-torch: $(STAMP)
	$(BIN)/python -m pip install --quiet -r bench/requirements-torch.txt
	$(BIN)/python bench/maml_speed.py

clean:
	rm -rf _build .pytest_cache tests/__pycache__ tools/__pycache__ __pycache__

distclean: clean
	rm -rf $(VENV) $(COLAB_VENV)

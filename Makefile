# MAML with JAX: build the book and run its tests.
#   make book       build the website into _build/html (every chapter executed)
#   make test       run every check: sources, each chapter on both stacks, the site
#   make test-site  build (or reuse) the book and check every page in headless Chromium
#   make test-colab run each chapter on Colab's stack (requirements-colab.txt)
#   make sweep      run each chapter on both stacks x two CPU code paths x four keys
#   make sync       regenerate each book/*.ipynb from its .md after editing the .md
#   make clean      remove build outputs (keeps .venv); make distclean also removes .venv
# Each creates .venv and installs requirements.txt on first use (.venv-colab for Colab's).

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
MIN_PY := 3.10

# A non-interactive MPLBACKEND (Agg, say) in the environment would silently drop every figure.
unexport MPLBACKEND
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: help book test test-notebooks test-colab test-site chromium screenshot sync clean \
        distclean venv venv-colab sweep

help:
	@sed -n '2,9p' Makefile | sed 's/^# *//'

venv: $(STAMP)

$(STAMP): requirements.txt
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "error: '$(PYTHON)' not found; install Python >= $(MIN_PY) or run 'make PYTHON=/path/to/python3'" >&2; exit 1; }
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < tuple(map(int, "$(MIN_PY)".split("."))))' || { echo "error: $(PYTHON) is Python $$($(PYTHON) -c 'import platform; print(platform.python_version())'); the book needs Python >= $(MIN_PY) (run 'make PYTHON=python3.12', say)" >&2; exit 1; }
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV) || { echo "error: could not create the virtual environment $(VENV) with '$(PYTHON) -m venv' (on Debian/Ubuntu: apt-get install python3-venv)" >&2; rm -rf $(VENV); exit 1; }
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt
	@touch $@

book: $(STAMP)
	$(BIN)/jupyter-book build . --builder html -W -n --keep-going
	@echo
	@echo "The book is built: open file://$(CURDIR)/_build/html/index.html"

# `make test` executes every chapter once per stack. The pinned stack runs with XLA's
# AVX2 code for the CPU (what a reader's laptop without AVX-512 gets), and its executions
# go into the book's cache, so the website build of test-site shows them instead of
# executing the chapters again.
TEST_XLA_FLAGS ?= --xla_cpu_max_isa=AVX2

# The two stacks run at the same time (each line of their reports says which it is): a
# chapter keeps about one core busy, so two at once use a 2-core machine fully.
test: $(STAMP) $(COLAB_STAMP)
	$(BIN)/python -m pytest tests/test_source.py
	$(MAKE) --no-print-directory -j2 test-notebooks test-colab
	$(MAKE) --no-print-directory test-site

test-notebooks: $(STAMP)
	XLA_FLAGS="$$XLA_FLAGS $(TEST_XLA_FLAGS)" $(BIN)/python tests/run_notebooks.py --cache --tag pinned

# Colab's stack: the versions of requirements-colab.txt, with Colab's Python (3.12) when
# this machine has it; COLAB_PYTHON=/path/to/python3.12 chooses another.
COLAB_VENV   := .venv-colab
COLAB_STAMP  := $(COLAB_VENV)/.installed
COLAB_PYTHON ?= $(firstword $(foreach p,python3.12 $(wildcard $(HOME)/.pyenv/versions/3.12*/bin/python3.12),$(shell $(p) -c 'print("$(p)")' 2>/dev/null)) $(PYTHON))

venv-colab: $(COLAB_STAMP)

$(COLAB_STAMP): requirements-colab.txt
	@echo "Colab's stack: $(COLAB_PYTHON) ($$($(COLAB_PYTHON) -c 'import platform; print(platform.python_version())'); Colab's is 3.12)"
	@test -x $(COLAB_VENV)/bin/python || $(COLAB_PYTHON) -m venv $(COLAB_VENV) || { echo "error: could not create $(COLAB_VENV) with '$(COLAB_PYTHON) -m venv'" >&2; rm -rf $(COLAB_VENV); exit 1; }
	$(COLAB_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(COLAB_VENV)/bin/python -m pip install --quiet -r requirements-colab.txt
	@touch $@

test-colab: $(COLAB_STAMP)
	$(COLAB_VENV)/bin/python tests/run_notebooks.py --colab --tag colab

# The robustness sweep (long: 1.5 hours on 2 cores); its report goes to _build/sweep/.
sweep: $(STAMP) $(COLAB_STAMP)
	$(BIN)/python tests/sweep.py --jobs 2

# The browser test drives this Chromium; Debian's package is installed if it is missing.
CHROMIUM ?= /usr/bin/chromium
export CHROMIUM

test-site: $(STAMP) chromium
	$(MAKE) --no-print-directory book
	$(BIN)/python -m pytest tests/test_site.py tests/test_browser.py
	@echo "Screenshots of every page: $(CURDIR)/_build/screenshots/"

# The README's picture of the book (assets/screenshot.png), from the built site.
screenshot: $(STAMP) chromium
	$(MAKE) --no-print-directory book
	$(BIN)/python tests/readme_screenshot.py

chromium:
	@test -x "$(CHROMIUM)" && exit 0; \
	if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	  echo "Chromium is missing; installing Debian's chromium package with apt-get"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	else \
	  echo "error: the browser test needs Chromium at $(CHROMIUM): run 'sudo apt-get install chromium'" \
	       "(Debian/Ubuntu) or 'make test-site CHROMIUM=/path/to/chrome'" >&2; exit 1; \
	fi

sync: $(STAMP)
	$(BIN)/jupytext --to ipynb --update book/[0-9]*.md

# Speed benchmark of MAML implementations (bench/README.md); bench-torch adds PyTorch.
.PHONY: bench bench-torch
bench: $(STAMP)
	$(BIN)/python bench/maml_speed.py

bench-torch: $(STAMP)
	$(BIN)/python -m pip install --quiet -r bench/requirements-torch.txt
	$(BIN)/python bench/maml_speed.py

clean:
	rm -rf _build .pytest_cache tests/__pycache__

distclean: clean
	rm -rf $(VENV) $(COLAB_VENV)

# FastAPI Auth, Hands-On — every target creates or reuses the local virtual environment.
# Only Python 3.11+ and make are needed; nothing is installed outside .venv/.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
NBVAL  := --nbval-current-env --nbval-sanitize-with tests/nbval_sanitize.cfg

.PHONY: help install lab work test test-fast test-browser lint execute export labs grade bench audit clean

help:
	@echo "make lab      open the course in JupyterLab"
	@echo "make test     run the whole test suite (what CI runs)"
	@echo "make test-fast  the suite without Jupyter kernels (for authors, under a minute)"
	@echo "make test-browser  open every notebook in JupyterLab in headless Chromium (needs chromium)"
	@echo "make export   write notebooks/ export cells into src/clouddocs/"
	@echo "make labs     regenerate labs/ from solutions/"
	@echo "make execute  re-execute notebooks/ and solutions/ so stored outputs are current"
	@echo "make grade SUBMISSIONS=folder   grade learners' labs (table on screen + grades.csv)"
	@echo "make bench    measure the performance budgets (BENCH_ARGS=--notebooks times nbval too)"
	@echo "make audit    pre-launch security audit (AUDIT_APP=module:app AUDIT_TARGET=module:target)"

# (Re)install whenever pyproject.toml changes.
$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP)

# JupyterLab refuses to run as root unless told; containers and Binder-like setups run as root.
ROOT_FLAG := $(if $(filter 0,$(shell id -u)),--allow-root)

# Learners work on copies in work/ (git-ignored): made once per lab, never overwritten.
work: $(STAMP)
	$(BIN)/python -m authcourse work

lab: work
	$(BIN)/jupyter lab --ServerApp.root_dir=. $(ROOT_FLAG) README.md

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy

# Labs are run leniently (their stubs are unfinished on purpose); everything else strictly,
# with solutions required to score full marks (AUTHCOURSE_STRICT=1).
test: lint
	@if ls labs/*.ipynb >/dev/null 2>&1; then \
		$(BIN)/pytest -q -n auto --dist loadfile --nbval-lax $(NBVAL) labs; fi
	AUTHCOURSE_STRICT=1 $(BIN)/pytest -n auto --dist loadfile --nbval $(NBVAL) $(wildcard tests notebooks solutions)

# For authors: no Jupyter kernels (no nbval, no grading runs), lint first.
test-fast: lint
	$(BIN)/pytest -q -n auto -m "not slow" tests

# Every notebook, lab and solution in JupyterLab in Debian's Chromium, driven by Playwright
# (the [browser] extra; never `playwright install`). Installs no system package: without
# Chromium it stops with a plain message. Screenshots go to screenshots/ (git-ignored).
CHROMIUM      ?= /usr/bin/chromium
BROWSER_STAMP := $(VENV)/.browser-stamp
$(BROWSER_STAMP): $(STAMP)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev,browser]'
	@touch $(BROWSER_STAMP)

test-browser: $(STAMP)
	@test -x "$(CHROMIUM)" || { echo "test-browser: Chromium not found at $(CHROMIUM)." \
		"Install Debian's chromium package (apt-get install chromium) or set CHROMIUM=/path."; exit 1; }
	@$(MAKE) --no-print-directory $(BROWSER_STAMP)
	CHROMIUM="$(CHROMIUM)" $(BIN)/pytest -q -p no:xdist tests/browser/browser_check.py

export: $(STAMP)
	$(BIN)/python -m authcourse export

labs: $(STAMP)
	$(BIN)/python -m authcourse labs

execute: $(STAMP)
	$(BIN)/python -m authcourse execute $(wildcard notebooks/*.ipynb) $(wildcard solutions/*.ipynb)

SUBMISSIONS ?= submissions
grade: $(STAMP)
	$(BIN)/python -m authcourse grade $(SUBMISSIONS) --csv grades.csv

# Timings are measured here, never asserted in tests; exit 1 when a budget is exceeded.
# Chapter 7's ReBAC scaling (1k, 100k, 1M tuples; ~4 min) rewrites the results file the
# chapter shows; REBAC_ARGS="--sizes 1000 100000" for a shorter look.
REBAC_JSON ?= notebooks/results/07_rebac.json
bench: $(STAMP)
	$(BIN)/python -m authcourse.bench.rebac --json $(REBAC_JSON) $(REBAC_ARGS)
	$(BIN)/python -m authcourse bench $(BENCH_ARGS)

AUDIT_APP    ?= authcourse.audit.targets.clouddocs:ch03.app
AUDIT_TARGET ?= authcourse.audit.targets.clouddocs:ch03.target
# Exit 1 when a probe fails. AUDIT_ARGS e.g. "--only jwt --json".
audit: $(STAMP)
	$(BIN)/python -m authcourse audit $(AUDIT_APP) --target $(AUDIT_TARGET) $(AUDIT_ARGS)

clean:
	rm -rf $(VENV) .venv-peer .mypy_cache .ruff_cache

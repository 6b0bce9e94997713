# FastAPI Auth, Hands-On — every target creates or reuses the local virtual environment.
# Only Python 3.11+ and make are needed; nothing is installed outside .venv/.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
NBVAL  := --nbval-current-env --nbval-sanitize-with tests/nbval_sanitize.cfg

.PHONY: help install doctor lab work test test-fast test-services test-browser lint execute export labs grade bench audit release clean

help:
	@echo "make lab      open the course in JupyterLab"
	@echo "make doctor   check this machine is ready (Python, .venv/, a kernel, a request)"
	@echo "make test     run the whole test suite (what CI runs)"
	@echo "make test-fast  the suite without Jupyter kernels (for authors, under a minute)"
	@echo "make test-services  the reference code on throwaway PostgreSQL 15 and Redis servers"
	@echo "make test-browser  open every notebook in JupyterLab in headless Chromium (needs chromium)"
	@echo "make export   write notebooks/ export cells into src/clouddocs/"
	@echo "make labs     regenerate labs/ from solutions/"
	@echo "make execute  re-execute notebooks/ and solutions/ so stored outputs are current"
	@echo "make grade SUBMISSIONS=folder   grade learners' labs (table, grades.csv, gradebook, feedback)"
	@echo "make bench    measure the performance budgets (BENCH_ARGS=--notebooks times nbval too)"
	@echo "make audit    pre-launch audit of the chapter 8 pattern apps (docs/audit/), or AUDIT_APP=module:app AUDIT_TARGET=module:target"

# (Re)install whenever pyproject.toml changes.
$(STAMP): pyproject.toml
	@$(PYTHON) src/authcourse/doctor.py venv --python $(PYTHON) --venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP)

# JupyterLab refuses to run as root unless told; containers and Binder-like setups run as root.
ROOT_FLAG := $(if $(filter 0,$(shell id -u)),--allow-root)

# Learners work on copies in work/ (git-ignored): made once per lab, never overwritten.
work: $(STAMP)
	$(BIN)/python -m authcourse work

lab: doctor work
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

# The database-facing tests again, on PostgreSQL (asyncpg) and Redis by URL, plus tests/services
# (row-level security, the audit log's INSERT-only role, two uvicorn workers). servers.py starts
# a throwaway cluster and redis-server, passes their URLs in the environment and stops them.
# Needs PostgreSQL 15 and redis-server on the machine (.ci/run installs redis-server).
SERVICES_STAMP := $(VENV)/.services-stamp
SERVICE_TESTS  := tests/services tests/ch02/test_reference.py tests/ch02/test_signup_policy_audit.py \
	tests/ch03/test_reference.py tests/ch03/test_token_security.py \
	tests/ch04/test_reference.py tests/ch04/test_keys_hardening.py tests/ch04/test_webhooks.py
$(SERVICES_STAMP): $(STAMP)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev,services]'
	@touch $(SERVICES_STAMP)

test-services: $(SERVICES_STAMP)
	$(BIN)/python tests/services/servers.py -- $(BIN)/pytest -q -n 2 --dist loadfile $(SERVICE_TESTS)

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

# SUBMISSIONS is one folder and may contain spaces ("Lab 3"); GRADE_ARGS adds options, e.g.
# GRADE_ARGS="--exercises 03.1,03.2". Earlier grades.* files are moved aside, never overwritten.
SUBMISSIONS ?= submissions
grade: $(STAMP)
	$(BIN)/python -m authcourse grade "$(SUBMISSIONS)" --csv grades.csv \
		--gradebook grades.gradebook.csv --feedback grades.feedback $(GRADE_ARGS)

# Timings are measured here, never asserted in tests; exit 1 when a budget is exceeded.
# Chapter 7's ReBAC scaling (1k, 100k, 1M tuples; ~4 min), written to a git-ignored file.
# The chapter shows the committed notebooks/results/07_rebac.json: to refresh it, run
# `make bench REBAC_JSON=notebooks/results/07_rebac.json`, then re-execute chapter 7.
# REBAC_ARGS="--sizes 1000 100000" for a shorter look.
REBAC_JSON ?= bench-results/07_rebac.json
bench: $(STAMP)
	$(BIN)/python -m authcourse.bench.rebac --json $(REBAC_JSON) $(REBAC_ARGS)
	$(BIN)/python -m authcourse bench $(BENCH_ARGS)

# Without AUDIT_APP: the full audit of chapter 8's four pattern apps, reports stored in
# docs/audit/<pattern>.md (deterministic: re-running changes nothing). With it, one app, e.g.
# AUDIT_APP=authcourse.audit.targets.clouddocs:ch03.app AUDIT_TARGET=authcourse.audit.targets.clouddocs:ch03.target
# Exit 1 when a probe fails. AUDIT_ARGS e.g. "--only jwt --json" (with AUDIT_APP).
AUDIT_APP    ?=
AUDIT_TARGET ?=
audit: $(STAMP)
ifeq ($(strip $(AUDIT_APP)),)
	$(BIN)/python -m authcourse.audit.targets.patterns --write docs/audit
else
	$(BIN)/python -m authcourse audit $(AUDIT_APP) --target $(AUDIT_TARGET) $(AUDIT_ARGS)
endif

clean:
	rm -rf $(VENV) .venv-peer .mypy_cache .ruff_cache

# --- Workshops (issue 25): a setup check, a student release, grading a room ----------------
# Send attendees `make doctor` before the day: checks the Python before creating .venv/
# (recreating a broken or wrong-version one), then that the packages import, a kernel starts
# and one in-process request succeeds.
doctor:
	@$(PYTHON) src/authcourse/doctor.py venv --python $(PYTHON) --venv $(VENV)
	@$(MAKE) --no-print-directory install
	@$(BIN)/python -m authcourse.doctor check

# The students' copy for a class repository: no solutions/, no tests/, solution regions
# stubbed, hidden check cases removed. The instructor grades with this full repository.
release: $(STAMP)
	@test -n "$(DEST)" || { echo "usage: make release DEST=folder (new or empty, outside this repository)"; exit 2; }
	$(BIN)/python -m authcourse.grading.release "$(DEST)"

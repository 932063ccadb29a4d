PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
export IMBALANCE_GAN_DATA ?= $(abspath ../shared/data)

.PHONY: install test test-slow test-slurm lint bench clean

install:
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet "torch>=2.2,<=2.14.1" "torchvision>=0.17,<=0.29.1"
	$(BIN)/pip install --quiet -e ".[dev,cluster]"

test:
	$(BIN)/python -m pytest -q

test-slow:
	$(BIN)/python -m pytest -q -m slow

# starts a SLURM cluster on this machine (as root; installs slurm-wlm and munge with apt-get
# when missing) and stops it afterwards: tests/slurm_cluster.sh
test-slurm:
	$(BIN)/python -m pytest -q -m slurm

lint:
	$(BIN)/ruff check imbalance_gan hydra_plugins tests $(wildcard benchmarks scripts)

bench:
	$(BIN)/python benchmarks/throughput.py --json bench.json

clean:
	rm -rf outputs multirun/*/ .pytest_cache

# Two commands do everything on a fresh machine: `make demo` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
CORES ?= all
# The overlay config of `make figures` and `make report` (CONFIG= for the full study).
CONFIG ?= config/demo.yaml
CONFIG_ARG := $(if $(CONFIG),--configfile $(CONFIG))

.PHONY: demo test lint format venv full figures report clean

venv: $(VENV)/.installed

$(VENV)/.installed: requirements.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install -r requirements.txt
	touch $@

demo: venv
	$(BIN)/snakemake --cores $(CORES) --configfile config/demo.yaml

full: venv
	$(BIN)/snakemake --cores $(CORES)

figures: venv
	$(BIN)/snakemake --cores $(CORES) figures $(CONFIG_ARG)

report: venv
	$(BIN)/snakemake --report results/report.html $(CONFIG_ARG)

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/snakefmt --check .
	$(BIN)/snakemake --lint --configfile config/demo.yaml
	$(BIN)/snakemake --lint

test: lint
	$(BIN)/python -m pytest

format: venv
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .
	$(BIN)/snakefmt .

clean:
	rm -rf results .snakemake

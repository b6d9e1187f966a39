# Two entry points for a fresh machine (Python 3.11 with venv; nothing else to start by hand):
#   make demo   set up .venv, write the demo corpora, run the main job on local Ray, verify the shards
#   make test   set up .venv and run the test suite (what CI runs: .ci/run)
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
ENGINE ?= ray
PYTEST_ARGS ?=

.PHONY: setup demo test clean

$(BIN)/audioprep: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -c constraints.txt -e '.[test]'
	touch $@

setup: $(BIN)/audioprep

demo: setup
	$(BIN)/audioprep demo demo-corpora
	$(BIN)/audioprep run --dataset librispeech=demo-corpora/LibriSpeech \
	                     --dataset clotho=demo-corpora/clotho \
	                     --dataset cochlscene=demo-corpora/CochlScene \
	                     --out out --engine $(ENGINE) --overwrite
	$(BIN)/audioprep verify out

test: setup
	$(BIN)/python -m pytest $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) demo-corpora out

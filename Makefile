# Two entry points for a fresh machine (Python 3.11 with venv; nothing else to start by hand):
#   make demo   set up .venv, write the demo corpora, run the main job on local Beam, verify the shards
#   make test   set up .venv and run the test suite (what CI runs: .ci/run)
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
ENGINE ?= beam
PYTEST_ARGS ?=

.PHONY: setup browser speech demo test test-ctc clean

# the pipeline alone (what `make demo` needs) ...
$(VENV)/.core: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -c constraints.txt -e .
	touch $@

# ... and every extra the tests exercise: test tools, Airflow, the long-form aligner and VAD, the exports
$(VENV)/.all: $(VENV)/.core
	$(BIN)/pip install --quiet -c constraints.txt -e '.[test,airflow,longform,export,dnsmos]'
	touch $@

setup: $(VENV)/.all

demo: $(VENV)/.core
	$(BIN)/audioprep demo demo-corpora
	$(BIN)/audioprep run --dataset librispeech=demo-corpora/LibriSpeech \
	                     --dataset clotho=demo-corpora/clotho \
	                     --dataset cochlscene=demo-corpora/CochlScene \
	                     --out out --engine $(ENGINE) --overwrite
	$(BIN)/audioprep verify out

# Headless Chromium for the test that opens the `audioprep stats` page in a real browser: installed
# from Debian only when missing and when we may (root with apt-get); otherwise that test is skipped.
browser:
	@if command -v chromium >/dev/null 2>&1; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	  DEBIAN_FRONTEND=noninteractive apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; \
	else echo "chromium is missing and cannot be installed here (needs root and apt-get): the browser test will be skipped"; fi

# espeak-ng for the aligner test and bench/aligner.py (words synthesized one by one, so every true
# boundary is known): installed from Debian only when missing and when we may; otherwise skipped.
speech:
	@if command -v espeak-ng >/dev/null 2>&1; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	  DEBIAN_FRONTEND=noninteractive apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq espeak-ng; \
	else echo "espeak-ng is missing and cannot be installed here (needs root and apt-get): the aligner tests on synthesized speech will be skipped"; fi

# The CTC aligner's extra (torch 2.14.1 + torchaudio 2.11.0: CUDA builds of about 5 GB that run on the
# CPU) cannot share .venv, where silero-vad needs the CPU torch 2.13.0: its test runs in a venv of its own.
CTC_VENV ?= .venv-ctc
$(CTC_VENV)/.ready: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(CTC_VENV)
	$(CTC_VENV)/bin/pip install --quiet --upgrade pip
	grep -v -E '^(torch|torchaudio|silero-vad|onnxruntime)==' constraints.txt > $(CTC_VENV)/constraints.txt
	printf 'torch==2.14.1\ntorchaudio==2.11.0\n' >> $(CTC_VENV)/constraints.txt
	$(CTC_VENV)/bin/pip install --quiet -c $(CTC_VENV)/constraints.txt -e '.[test,ctc]'
	touch $@

test-ctc: $(CTC_VENV)/.ready
	$(CTC_VENV)/bin/python -m pytest -q -p no:cacheprovider tests/test_aligner.py -k ctc

test: $(VENV)/.all browser speech test-ctc
	$(BIN)/python -m pytest $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) $(CTC_VENV) demo-corpora out

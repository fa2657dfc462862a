# Two commands for a new machine:
#   make release   create the environment, land the bundled samples, build and verify a release
#   make test      create the environment (with training and test extras), run every test
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
export LAKEHOUSE_PROJECT_DIR := $(CURDIR)

.PHONY: release test land build docs bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

$(VENV)/.installed-base: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e .
	touch $@

# torch is pinned inside the train extra and installed in the same pip call (CPU wheel)
$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e ".[train,dev]"
	touch $@ $(VENV)/.installed-base

land: $(VENV)/.installed-base
	$(BIN)/lakehouse land samples/chatml --source synthetic_sessions --family mental_health_datasets --license CC0-1.0
	$(BIN)/lakehouse land samples/counsel_chat --source counsel_chat --family mental_health_datasets --license MIT
	$(BIN)/lakehouse land samples/sessions --source synthetic_session_files --family mental_health_datasets --license CC0-1.0
	$(BIN)/lakehouse land samples/cot_reasoning --source synthetic_clinical_reasoning --family cot_reasoning --license CC0-1.0
	$(BIN)/lakehouse land samples/edge_cases --source synthetic_crisis_edge_cases --family edge_case_generator --license CC0-1.0
	$(BIN)/lakehouse land samples/voice_persona --source synthetic_persona_dialogues --family voice_persona --license CC0-1.0
	$(BIN)/lakehouse land samples/sharegpt --source fastchat_dummy --family roleplay_simulator --license Apache-2.0
	$(BIN)/lakehouse land samples/hh_rlhf --source hh_rlhf_harmless --family safety_guardrails_annihilator --license MIT
	$(BIN)/lakehouse land samples/speeches --source sotu_speeches --family video_transcripts --license public-domain

build: $(VENV)/.installed-base
	$(BIN)/lakehouse build

release: land build
	$(BIN)/lakehouse release verify latest

test: $(VENV)/.installed-dev
	$(BIN)/python -m pytest -q -n 2 --dist loadfile

clean:
	rm -rf target logs lakehouse-data

DOCS_PORT ?= 8080
docs: $(VENV)/.installed-base
	$(BIN)/lakehouse docs --serve --port $(DOCS_PORT)

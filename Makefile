# Two commands matter: `make demo` and `make test`. Both install first (idempotent).
PY      ?= python3
VENV    := .venv
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.installed-$(shell cat pyproject.toml Makefile | cksum | cut -d' ' -f1)
# DeepSpeed compiles its ops just in time: keep one build cache so CI compiles once.
export TORCH_EXTENSIONS_DIR := $(CURDIR)/.cache/torch_extensions
export DS_BUILD_OPS := 0
export MPLBACKEND := Agg

.PHONY: install test test-all demo clean

install: $(STAMP)

$(STAMP):
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip setuptools wheel
	# torch and torchvision come from this machine's disk (pinned; do not lift the cap)
	$(BIN)/pip install -q torch==2.14.1 torchvision==0.29.1
	$(BIN)/pip install -q -e '.[eval,data,dev]' webdataset==1.0.2 hjson ninja psutil py-cpuinfo pydantic msgpack
	# DeepSpeed ships only a source tarball: build it against the installed torch
	$(BIN)/pip install -q --no-build-isolation deepspeed==0.19.8
	touch $@

test: install
	DS_ACCELERATOR=cpu $(BIN)/python -m pytest -q tests

test-all: install
	DS_ACCELERATOR=cpu $(BIN)/python -m pytest -q -m 'not gpu' tests

demo: install
	$(BIN)/python -m zoo.demo --out runs/demo

clean:
	rm -rf $(VENV) .cache runs

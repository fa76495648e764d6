# Two targets do all the set-up on a fresh Debian machine with Python 3.11:
#   make build   install, then build the ULX3S bitstream (trains a model first if none)
#   make test    install what the tests need (Icarus Verilog too), then run them
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
BOARD ?= ulx3s

.PHONY: build test install iverilog clean

build: install
	$(PY) -m hw.build --board $(BOARD)

test: install iverilog
	$(PY) -m pytest -n 2 --durations=15

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $@

iverilog:
	@command -v iverilog >/dev/null || { $(SUDO) apt-get update -qq && \
		$(SUDO) apt-get install -y -qq iverilog; }

clean:
	rm -rf build/*/ sim_build .pytest_cache

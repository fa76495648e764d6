# Two targets do all the set-up on a fresh Debian machine with Python 3.11:
#   make build   install, then build the ULX3S bitstream (trains a model first if none)
#   make test    install what the tests need (Icarus Verilog too), then run them all
# and one for the day's work:
#   make test-fast   the tests without the slow, sim and bitstream markers (minutes)
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
BOARD ?= ulx3s

FAST := not slow and not sim and not bitstream

.PHONY: build test test-fast install iverilog clean

build: install
	$(PY) -m hw.build --board $(BOARD)

test: install iverilog
	$(PY) -m pytest -n 2 --dist worksteal --durations=15

test-fast: install
	$(PY) -m pytest -n 2 --dist worksteal -m "$(FAST)" --durations=10

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

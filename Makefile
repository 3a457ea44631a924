# OpenOMS: `make run` serves the demo on http://127.0.0.1:8000, `make test` runs every test.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run test lint typecheck check bench bench-flash clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/openoms migrate
	$(BIN)/openoms demo-data --if-empty
	@test -f var/demo-api-key.txt && echo "Demo API key: $$(cat var/demo-api-key.txt)  (Authorization: Bearer <key>)" || true
	@test -f var/demo-users.txt && echo "Back office: http://127.0.0.1:8000/login  user $$(head -n1 var/demo-users.txt | cut -d' ' -f1)  password $$(sed -n 's/^password: //p' var/demo-users.txt)" || true
	$(BIN)/openoms serve

test: $(STAMP)
	tools/ensure-chromium
	$(BIN)/ruff check src tests bench
	$(BIN)/mypy
	$(BIN)/pytest

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

typecheck: $(STAMP)
	$(BIN)/mypy

check: $(STAMP)
	$(BIN)/openoms check

bench: $(STAMP)
	$(BIN)/python bench/capture_bench.py

bench-flash: $(STAMP)
	$(BIN)/python bench/flash_sale.py

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache

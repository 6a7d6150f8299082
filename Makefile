# The two commands a user needs: `make devnet` and `make test`. Both install what is missing first.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
ANVIL_DIR := node_modules/@foundry-rs/anvil-linux-amd64/bin
# ape-vyper must find the pip-installed vyper 0.4.3 (never vvm), and ape-foundry the pinned anvil.
export PATH := $(CURDIR)/$(BIN):$(CURDIR)/$(ANVIL_DIR):$(PATH)

.PHONY: setup test devnet devnet-down lint format bench clean

setup: $(VENV)/.installed $(VENV)/.seqcore node_modules/.installed

$(VENV)/.installed: pyproject.toml constraints.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -c constraints.txt -e '.[dev]'
	@touch $@

# The compiled request path (native/, Rust through PyO3): pip builds it from source with the
# pinned maturin (native/pyproject.toml) and cargo, crates at the versions of native/Cargo.lock.
NATIVE := native/Cargo.toml native/Cargo.lock native/pyproject.toml native/seqcore.pyi \
	$(wildcard native/src/*.rs)
$(VENV)/.seqcore: $(VENV)/.installed $(NATIVE)
	@command -v cargo >/dev/null || { echo "cargo (the Rust toolchain) is needed to build native/" >&2; exit 1; }
	PIP_CONSTRAINT=$(CURDIR)/constraints.txt $(BIN)/python -m pip install --quiet \
		--disable-pip-version-check ./native
	@touch $@

# `npm ci` rejects this lock: npm 11 leaves the other platforms' optional anvil/cast packages out
# of it. `npm install --no-save` installs exactly the locked versions and checks their integrity.
node_modules/.installed: package.json package-lock.json
	npm install --no-audit --no-fund --no-save --loglevel=error
	@test -x $(ANVIL_DIR)/anvil || { echo "anvil binary missing from node_modules" >&2; exit 1; }
	@touch $@

# The crate's tests (native/, cargo) build and run on the second core while `ape test` runs
# (mostly one core: Python and anvil); their output follows ape's, and either failing fails.
test: setup
	@log=$$(mktemp); (cd native && cargo test --locked --quiet) >$$log 2>&1 & rust=$$!; \
	$(BIN)/ape test $(ARGS); ape=$$?; \
	wait $$rust; cargo=$$?; echo "cd native && cargo test --locked --quiet"; cat $$log; \
	rm -f $$log; test $$cargo -eq 0 && test $$ape -eq 0

devnet: setup
	$(BIN)/sequencer devnet up

devnet-down: setup
	$(BIN)/sequencer devnet down

# check_imports: no import circle between the modules of sequencer/, lazy imports included.
# mypy: the types of sequencer/ (settings in pyproject.toml, [tool.mypy]).
# cargo fmt + clippy: the crate's style and lints, warnings are errors (with and without PyO3).
lint: setup
	$(BIN)/ruff check sequencer scripts tests bench
	$(BIN)/ruff format --check sequencer scripts tests bench
	$(BIN)/python scripts/check_imports.py sequencer
	$(BIN)/mypy
	cd native && cargo fmt --check
	cd native && cargo clippy --locked --quiet --all-targets -- -D warnings
	cd native && cargo clippy --locked --quiet --all-targets --features python -- -D warnings

format: setup
	$(BIN)/ruff check --fix sequencer scripts tests bench
	$(BIN)/ruff format sequencer scripts tests bench
	cd native && cargo fmt

# Every benchmark prints its figures against its target or baseline measured in the same run and
# writes bench/results/<name>.{json,md}; together they take several minutes on 2 cores.
bench: setup
	$(BIN)/python bench/black_scholes.py
	$(BIN)/python bench/option_vault_gas.py
	$(BIN)/python bench/gas_l1.py
	$(BIN)/python bench/xrollup_gas.py
	$(BIN)/python bench/batches.py
	$(BIN)/python bench/decode.py
	$(BIN)/python bench/ingest.py
	$(BIN)/python bench/idle.py

clean:
	rm -rf $(VENV) node_modules .build .devnet .hypothesis .pytest_cache .mypy_cache

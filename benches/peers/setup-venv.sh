#!/usr/bin/env bash
# Creates (once) the Python virtual environment that holds the peers ideadesk is measured
# against: faster-whisper (CTranslate2), llama-cpp-python (llama.cpp, built from source
# here) and piper-tts (onnxruntime). Versions are pinned; the venv is cached in
#   ${IDEADESK_PEERS_VENV:-${XDG_CACHE_HOME:-~/.cache}/ideadesk/peers-venv}
# and rebuilt only when this file's pins change. Prints the venv's path on stdout.
#
# llama.cpp is compiled for this CPU (its best case, as a user building it here would get)
# but without AMX: ggml's AMX path has died with SIGILL on the Sapphire Rapids hosts
# (DESIGN.md, "Build facts"). Override with PEERS_LLAMA_CMAKE_ARGS, e.g. "-DGGML_NATIVE=OFF"
# for a portable peer.
set -euo pipefail

FASTER_WHISPER=1.2.1
CTRANSLATE2=4.8.5
LLAMA_CPP_PYTHON=0.3.36
PIPER_TTS=1.8.0
ONNXRUNTIME=1.32.0
NUMPY=2.3.5

no_amx="-mno-amx-tile -mno-amx-int8 -mno-amx-bf16"
llama_cmake_args=${PEERS_LLAMA_CMAKE_ARGS:-"-DGGML_NATIVE=ON -DGGML_AMX_TILE=OFF -DGGML_AMX_INT8=OFF -DGGML_AMX_BF16=OFF -DGGML_OPENMP=ON -DLLAMA_CURL=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_TOOLS=OFF -DLLAMA_BUILD_SERVER=OFF"}

here=$(cd "$(dirname "$0")" && pwd)
# Their dependencies are pinned too, by constraints.txt.
constraints="$here/constraints.txt"
venv=${IDEADESK_PEERS_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/ideadesk/peers-venv}
stamp_text="faster-whisper==$FASTER_WHISPER ctranslate2==$CTRANSLATE2 llama-cpp-python==$LLAMA_CPP_PYTHON \
piper-tts==$PIPER_TTS onnxruntime==$ONNXRUNTIME numpy==$NUMPY llama: $llama_cmake_args $no_amx \
constraints: $(sha256sum "$constraints" | cut -c1-16)"
python=${PYTHON:-python3}

if [[ -f "$venv/.ideadesk-peers" ]] && [[ "$(cat "$venv/.ideadesk-peers")" == "$stamp_text" ]]; then
  echo "$venv"
  exit 0
fi

echo "setting up the peers' venv in $venv (llama.cpp compiles from source: ~10-20 min on 2 cores)" >&2
rm -rf "$venv.partial"
mkdir -p "$(dirname "$venv")"
"$python" -m venv "$venv.partial"
pip=("$venv.partial/bin/python" -m pip --disable-pip-version-check --quiet)
"${pip[@]}" install -c "$constraints" "numpy==$NUMPY" "ctranslate2==$CTRANSLATE2" "faster-whisper==$FASTER_WHISPER" \
  "onnxruntime==$ONNXRUNTIME" "piper-tts==$PIPER_TTS" >&2
# --no-binary: the source distribution, compiled here with the flags above.
CMAKE_ARGS="$llama_cmake_args -DCMAKE_C_FLAGS='$no_amx' -DCMAKE_CXX_FLAGS='$no_amx'" \
  CMAKE_BUILD_PARALLEL_LEVEL=${CMAKE_BUILD_PARALLEL_LEVEL:-2} \
  nice -n 5 "${pip[@]}" install -c "$constraints" --no-binary llama-cpp-python --no-cache-dir \
  "llama-cpp-python==$LLAMA_CPP_PYTHON" >&2
echo "$stamp_text" >"$venv.partial/.ideadesk-peers"
rm -rf "$venv"
mv "$venv.partial" "$venv"  # only bin/python is used, which survives the rename
echo "$venv"

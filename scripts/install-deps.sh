#!/usr/bin/env bash
# Installs what building and testing ideadesk needs on Debian/Ubuntu, when missing:
# the C toolchain pieces for whisper.cpp and ALSA, espeak-ng and sox for the speech
# tests, and pip for fetching the test models. Uses sudo when not root.
set -euo pipefail

packages=(libasound2-dev libclang-dev cmake pkg-config g++ espeak-ng sox libsox-fmt-mp3 python3)
python3 -m pip --version >/dev/null 2>&1 || packages+=(python3-pip)

missing=()
for package in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done

if ((${#missing[@]})); then
  if ! command -v apt-get >/dev/null; then
    echo "error: missing packages ${missing[*]} and no apt-get here; install them with your package manager" >&2
    exit 1
  fi
  sudo=""
  if [[ $(id -u) -ne 0 ]]; then
    command -v sudo >/dev/null || { echo "error: need root or sudo to install ${missing[*]}" >&2; exit 1; }
    sudo="sudo"
  fi
  echo "installing ${missing[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

if ! command -v cargo >/dev/null; then
  echo "cargo not found: installing the Rust toolchain with rustup"
  curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh -s -- -y --profile minimal --component clippy,rustfmt
  echo "now run: source \"\$HOME/.cargo/env\" and start again" >&2
  exit 1
fi
for component in clippy rustfmt; do
  cargo "${component/rustfmt/fmt}" --version >/dev/null 2>&1 || rustup component add "$component"
done

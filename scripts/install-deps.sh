#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Installs the Debian/Ubuntu packages needed to build and test Ternary Engine. Does nothing when
# they are all present already; uses sudo only when not root. The aarch64 cross-compiler and
# qemu-user let scripts/test.sh build the NEON kernels and run the test suite under emulation
# (scripts/test-arm.sh).
set -euo pipefail

packages=(
  cmake ninja-build g++ pkg-config
  libeigen3-dev libxsimd-dev libfmt-dev libgtest-dev libbenchmark-dev libcli11-dev
  nlohmann-json3-dev
  g++-aarch64-linux-gnu qemu-user
)

missing=()
for p in "${packages[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#packages[@]} packages present"
  exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
  echo "install-deps: missing ${missing[*]} and no apt-get; install them" >&2
  exit 1
fi
sudo=()
if [ "$(id -u)" -ne 0 ]; then
  if ! command -v sudo >/dev/null 2>&1; then
    echo "install-deps: need root or sudo to install ${missing[*]}" >&2
    exit 1
  fi
  sudo=(sudo)
fi
echo "install-deps: installing ${missing[*]}"
"${sudo[@]}" apt-get update
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive \
  apt-get install -y --no-install-recommends "${missing[@]}"

#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Builds the release CLI and runs `ternary demo` (extra arguments are passed to it).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
scripts/install-deps.sh

cmake --preset release
cmake --build --preset release --target ternary_cli --parallel "$(nproc 2>/dev/null || echo 2)"
exec build/release/ternary demo "$@"

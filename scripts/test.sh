#!/usr/bin/env bash
# Run Parley's whole test suite: fetches the default model first (the model tests use it).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
scripts/fetch-model.sh
cargo test --workspace --locked "$@"

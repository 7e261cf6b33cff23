#!/usr/bin/env bash
# Run Parley's whole test suite: fetches the default model first (the model tests use it).
# The comparisons with llama.cpp are opt-in (`#[ignore]`d): they run too when
# PARLEY_LLAMACPP_VENV (and, for the tokenizer cases, PARLEY_LLAMACPP_VOCABS) is set.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
scripts/fetch-model.sh
cargo test --workspace --locked "$@"
if [ -n "${PARLEY_LLAMACPP_VENV:-}" ]; then
  skip=()
  [ -n "${PARLEY_LLAMACPP_VOCABS:-}" ] || skip=(--skip tokenizers_pass_llamacpp_vocab_tests)
  cargo test -p parley-core --test llamacpp_logits --locked -- --ignored "${skip[@]}"
fi

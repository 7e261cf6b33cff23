#!/usr/bin/env bash
# Compare `parley bench` with llama.cpp (llama-cpp-python) on the same GGUF, the same prompt ids
# and the same thread count, alternating the two in one run so both see the same machine.
#
#   bench/compare-llamacpp.sh [RUNS] [THREADS]
#
# First run builds llama-cpp-python from source into bench/.venv (several minutes).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
runs="${1:-3}"
threads="${2:-1}"
model="${PARLEY_MODEL:-models/SmolLM2-135M-Instruct.Q4_1.gguf}"

scripts/fetch-model.sh >/dev/null
. bench/llamacpp-venv.sh
if [ -z "${PARLEY_BIN:-}" ]; then
  cargo build --release --quiet -p parley
fi
parley="${PARLEY_BIN:-${CARGO_TARGET_DIR:-target}/release/parley}"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

printf '%-4s %12s %12s %8s %12s %12s %8s %10s\n' run p_prefill l_prefill ratio p_decode l_decode ratio ttft_ratio
for i in $(seq 1 "$runs"); do
  "$parley" --model "$model" --threads "$threads" ${PARLEY_BENCH_ARGS:-} bench --json --dump-prompt "$tmp/prompt.json" > "$tmp/p.json"
  "$venv/bin/python" bench/llamacpp_bench.py "$model" "$tmp/prompt.json" "$threads" 128 > "$tmp/l.json"
  python3 - "$tmp/p.json" "$tmp/l.json" "$i" <<'PY'
import json, sys
p = json.load(open(sys.argv[1])); l = json.load(open(sys.argv[2]))
print("%-4s %12.1f %12.1f %7.2fx %12.1f %12.1f %7.2fx %9.3fx" % (
    sys.argv[3], p["prefill_tok_s"], l["prefill_tok_s"], p["prefill_tok_s"] / l["prefill_tok_s"],
    p["decode_tok_s"], l["decode_tok_s"], p["decode_tok_s"] / l["decode_tok_s"], p["followup_ratio"]))
PY
done
echo "p_* = parley, l_* = llama.cpp (tok/s); ttft_ratio = cached follow-up TTFT / re-prefilled TTFT"

#!/usr/bin/env bash
# Compare `parley bench` with llama.cpp (llama-cpp-python) on the same GGUF, the same prompt ids
# and the same thread count, alternating the two in one run so both see the same machine.
#
#   bench/compare-llamacpp.sh [RUNS] [THREADS] [CONVERSATIONS]
#
# With CONVERSATIONS (N > 0), each run also measures N distinct conversations decoding together:
# `parley bench --conversations N` (one batched forward per step) against llama.cpp decoding the
# same N prompts in one llama_batch with N sequence ids (bench/llamacpp_batched.py), alternated
# in the same run, printed as a second table.
#
# First run builds llama-cpp-python from source into bench/.venv (several minutes).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
runs="${1:-3}"
threads="${2:-1}"
conversations="${3:-0}"
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
  if [ "$conversations" -gt 0 ]; then
    "$parley" --model "$model" --threads "$threads" ${PARLEY_BENCH_ARGS:-} bench --json --conversations "$conversations" --dump-prompt "$tmp/prompts.json" > "$tmp/pb.json"
    "$venv/bin/python" bench/llamacpp_batched.py "$model" "$tmp/prompts.json" "$threads" 128 > "$tmp/lb.json"
    python3 - "$tmp/pb.json" "$tmp/lb.json" "$i" >> "$tmp/batched.txt" <<'PY'
import json, sys
p = json.load(open(sys.argv[1])); l = json.load(open(sys.argv[2]))
print("%-4s %3d %10.1f %10.1f %6.2fx %10.1f %10.1f %6.2fx %7.2fx %8.0f %8.0f %8.0f %6.2fx %6.2fx %6.2fx" % (
    sys.argv[3], p["conversations"], p["single_decode_tok_s"], p["aggregate_decode_tok_s"],
    p["aggregate_speedup"], l["single_decode_tok_s"], l["aggregate_decode_tok_s"],
    l["aggregate_speedup"], p["aggregate_decode_tok_s"] / l["aggregate_decode_tok_s"],
    p["single_ttft_ms"], p["ttft_p50_ms"], p["ttft_p95_ms"], p["ttft_p95_ratio"],
    p["prefill_work_ratio"], p["server"]["ttft_p95_ratio"]))
PY
  fi
done
echo "p_* = parley, l_* = llama.cpp (tok/s); ttft_ratio = cached follow-up TTFT / re-prefilled TTFT"
if [ "$conversations" -gt 0 ]; then
  echo
  printf '%-4s %3s %10s %10s %7s %10s %10s %7s %8s %8s %8s %8s %7s %7s %7s\n' run n p_single p_batch p_gain l_single l_batch l_gain p/l_batch ttft1_ms p50_ms p95_ms p95/1 floor srv_p95
  cat "$tmp/batched.txt"
  echo "n conversations decoding together (tok/s, all of them) vs one alone; ttft = parley's time to first token, n new questions at once vs one alone;"
  echo "floor = the prefill work of those n prompts against one prompt's (p95/1 cannot go below it); srv_p95 = p95/1 for n channels of one server (the bot's own prompts)"
fi

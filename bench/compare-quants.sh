#!/usr/bin/env bash
# Parley against llama.cpp on the weight formats people download, on a model shaped like a real
# one: Llama-3.2-1B's widths (hidden 2048, FFN 8192, 32 heads, 8 KV heads) with 4 layers, random
# F16 weights (fixed seed) and the default model's tokenizer, quantized by llama.cpp's own
# quantizer to each format. Runs bench/compare-llamacpp.sh on every format at 1 and 2 threads
# and ends with one line per format and thread count: the medians of the runs' ratios
# (parley / llama.cpp tok/s), e.g. `Q4_K_M t=1 prefill 0.95x decode 1.02x`.
#
#   bench/compare-quants.sh [RUNS] [MODEL_DIR]
#
# MODEL_DIR (or PARLEY_QUANT_DIR; default models/quants) keeps the files between runs: they are
# made only when missing (about 2 GB in all). PARLEY_QUANTS and PARLEY_THREADS narrow the
# matrix (defaults "Q4_K_M Q5_K_M Q6_K Q8_0 Q4_1" and "1 2"); LLAMACPP_VENV as in
# compare-llamacpp.sh. PARLEY_QUANT_MAKE_ONLY=1 makes the files and stops. PARLEY_CONVERSATIONS=N
# adds compare-llamacpp.sh's batched rows (N conversations decoding together) and their medians.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
runs="${1:-3}"
dir="${2:-${PARLEY_QUANT_DIR:-$root/models/quants}}"
mkdir -p "$dir"
dir="$(cd "$dir" && pwd)"
cd "$root"
quants="${PARLEY_QUANTS:-Q4_K_M Q5_K_M Q6_K Q8_0 Q4_1}"
threads="${PARLEY_THREADS:-1 2}"

scripts/fetch-model.sh >/dev/null
. bench/llamacpp-venv.sh
base="$dir/llama3.2-1b-shape-4l.F16.gguf"
if [ ! -f "$base" ]; then
  echo "writing $base ..." >&2
  "$venv/bin/python" bench/gguf_models.py quant-base models/SmolLM2-135M-Instruct.Q4_1.gguf "$base.part"
  mv "$base.part" "$base"
fi
for q in $quants; do
  out="$dir/llama3.2-1b-shape-4l.$q.gguf"
  if [ ! -f "$out" ]; then
    echo "quantizing to $q ..." >&2
    if ! "$venv/bin/python" bench/gguf_models.py quantize "$base" "$out.part" "$q" 2> "$out.log"; then
      cat "$out.log" >&2
      exit 1
    fi
    rm -f "$out.log"
    mv "$out.part" "$out"
  fi
done
[ -n "${PARLEY_QUANT_MAKE_ONLY:-}" ] && exit 0

if [ -z "${PARLEY_BIN:-}" ]; then
  cargo build --release --quiet --locked -p parley
  export PARLEY_BIN="${CARGO_TARGET_DIR:-target}/release/parley"
fi
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
for q in $quants; do
  for t in $threads; do
    echo "== $q, $t thread(s)"
    PARLEY_MODEL="$dir/llama3.2-1b-shape-4l.$q.gguf" bench/compare-llamacpp.sh "$runs" "$t" "${PARLEY_CONVERSATIONS:-0}" \
      | tee "$tmp/$q.t$t.txt"
  done
done
echo
python3 - "$tmp" $quants -- $threads <<'PY'
import statistics, sys
tmp, rest = sys.argv[1], sys.argv[2:]
split = rest.index("--")
quants, threads = rest[:split], rest[split + 1:]
for q in quants:
    for t in threads:
        rows = [line.split() for line in open(f"{tmp}/{q}.t{t}.txt")]
        single = [r for r in rows if len(r) == 8 and r[0].isdigit()]
        pre = statistics.median(float(r[3].rstrip("x")) for r in single)
        dec = statistics.median(float(r[6].rstrip("x")) for r in single)
        line = f"{q} t={t} prefill {pre:.2f}x decode {dec:.2f}x"
        batched = [r for r in rows if len(r) == 15 and r[0].isdigit()]
        if batched:
            gain = statistics.median(float(r[4].rstrip("x")) for r in batched)
            vs = statistics.median(float(r[8].rstrip("x")) for r in batched)
            line += f" | {batched[0][1]} together {gain:.2f}x alone, {vs:.2f}x llama.cpp batched"
        print(line)
PY

#!/usr/bin/env bash
# Serve the default GGUF with llama-cpp-python's OpenAI-compatible server, for the opt-in test
# core/tests/openai_llamacpp.rs (and for trying the remote engine by hand).
#
#   scripts/llamacpp-server.sh            # first run builds llama.cpp from source: minutes
#   PARLEY_OPENAI_BASE_URL=http://127.0.0.1:8088/v1 \
#     cargo test -p parley-core --test openai_llamacpp -- --ignored --nocapture
#
# Environment: VENV (default .venv-llamacpp), MODEL (default models/SmolLM2-135M-Instruct.Q4_1.gguf),
# HOST (127.0.0.1), PORT (8088), N_CTX (2048), LLAMA_CPP_PYTHON (pip requirement, pinned below).
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=${VENV:-.venv-llamacpp}
MODEL=${MODEL:-models/SmolLM2-135M-Instruct.Q4_1.gguf}
HOST=${HOST:-127.0.0.1}
PORT=${PORT:-8088}
N_CTX=${N_CTX:-2048}
LLAMA_CPP_PYTHON=${LLAMA_CPP_PYTHON:-llama-cpp-python[server]==0.3.16}

if [ ! -f "$MODEL" ]; then
    echo "model not found: $MODEL (fetch it with scripts/fetch-model.sh)" >&2
    exit 1
fi
if [ ! -x "$VENV/bin/python" ]; then
    python3 -m venv "$VENV"
fi
if ! "$VENV/bin/python" -c 'import llama_cpp.server, uvicorn' 2>/dev/null; then
    echo "installing $LLAMA_CPP_PYTHON into $VENV (builds llama.cpp from source; takes minutes)" >&2
    "$VENV/bin/pip" install --upgrade pip >/dev/null
    "$VENV/bin/pip" install "$LLAMA_CPP_PYTHON"
fi
echo "serving $MODEL on http://$HOST:$PORT/v1" >&2
exec "$VENV/bin/python" -m llama_cpp.server \
    --model "$MODEL" --host "$HOST" --port "$PORT" --n_ctx "$N_CTX" "$@"

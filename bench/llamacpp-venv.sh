# Sourced by the bench scripts: makes sure "$venv" (LLAMACPP_VENV, default bench/.venv) has
# llama-cpp-python (built from source: takes minutes the first time), numpy and gguf.
venv="${LLAMACPP_VENV:-bench/.venv}"
if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c 'import llama_cpp, gguf' 2>/dev/null; then
  echo "installing llama-cpp-python into $venv (builds llama.cpp; takes minutes) ..." >&2
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet llama-cpp-python==0.3.16 numpy gguf
fi

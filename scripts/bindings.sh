#!/usr/bin/env bash
# Generates the Kotlin, Swift and Python bindings of the phone library.
#   scripts/bindings.sh [OUT_DIR]      (default: target/bindings)
# Builds fieldsync-mobile (debug) and writes OUT_DIR/{kotlin,swift,python}, with
# the shared library copied next to the Python module.
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-target/bindings}"
cargo build -p fieldsync-mobile
lib="target/debug/libfieldsync_mobile.so"
[ -f "$lib" ] || lib="target/debug/libfieldsync_mobile.dylib"
for lang in kotlin swift python; do
  rm -rf "$out/$lang"
  cargo run -q -p uniffi-bindgen -- generate "$lib" --language "$lang" --out-dir "$out/$lang" --no-format
done
cp "$lib" "$out/python/"
echo "bindings written to $out (kotlin, swift, python)"

#!/usr/bin/env bash
# Generates the Kotlin, Swift and Python bindings of the phone library.
#   scripts/bindings.sh [OUT_DIR]      (default: target/bindings)
# Builds fieldsync-mobile and the uniffi-bindgen tool (debug) and writes
# OUT_DIR/{kotlin,swift,python}, with the shared library copied next to the
# Python module. FIELDSYNC_PREBUILT=1 skips the build and uses what is in
# target/debug (scripts/test.sh builds both with the tests, so nothing is
# compiled twice).
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-target/bindings}"
if [ "${FIELDSYNC_PREBUILT:-0}" != 1 ]; then
  cargo build -p fieldsync-mobile -p uniffi-bindgen
fi
lib="target/debug/libfieldsync_mobile.so"
[ -f "$lib" ] || lib="target/debug/libfieldsync_mobile.dylib"
for lang in kotlin swift python; do
  rm -rf "$out/$lang"
  target/debug/uniffi-bindgen generate "$lib" --language "$lang" --out-dir "$out/$lang" --no-format
done
cp "$lib" "$out/python/"
echo "bindings written to $out (kotlin, swift, python)"

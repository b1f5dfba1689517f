#!/usr/bin/env bash
# The whole test suite: the Rust workspace, then the phone library from real
# Python and Kotlin against a real relay (Swift bindings are generated and
# checked for presence: Swift cannot be compiled on Linux here).
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== Rust: cargo test --workspace"
cargo test --workspace

echo "== bindings"
# The relay binary, the phone library and the binding generator, built with
# the same features as the tests above, so nothing is compiled again.
cargo build --workspace --lib --bins --tests
FIELDSYNC_PREBUILT=1 scripts/bindings.sh target/bindings
for f in fieldsync_mobile.swift fieldsync_mobileFFI.h fieldsync_mobileFFI.modulemap; do
  test -s "target/bindings/swift/$f" || { echo "Swift binding $f was not generated" >&2; exit 1; }
done

export FIELDSYNC_SERVER="$PWD/target/debug/fieldsync-server"

echo "== Python"
FIELDSYNC_BINDINGS="$PWD/target/bindings/python" python3 mobile-ffi/tests/test_phone.py

echo "== Kotlin (JVM)"
KOTLIN_VERSION=2.4.20
KOTLIN_HOME="$PWD/target/tools/kotlin/node_modules/kotlin-compiler"
if [ ! -x "$KOTLIN_HOME/bin/kotlinc" ]; then
  echo "installing the Kotlin compiler $KOTLIN_VERSION from npm into target/tools ..."
  npm install --silent --prefix target/tools/kotlin "kotlin-compiler@$KOTLIN_VERSION"
fi
JNA_JAR=/usr/share/java/jna.jar
if [ ! -f "$JNA_JAR" ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "installing JNA (libjna-java) ..."
    apt-get install -y -q libjna-java >/dev/null || { apt-get update -q >/dev/null && apt-get install -y -q libjna-java >/dev/null; }
  else
    echo "JNA is missing: install it with 'sudo apt-get install libjna-java'" >&2
    exit 1
  fi
fi
KOTLIN_HOME="$KOTLIN_HOME" JNA_JAR="$JNA_JAR" \
  FIELDSYNC_BINDINGS="$PWD/target/bindings/kotlin" FIELDSYNC_LIB_DIR="$PWD/target/debug" \
  python3 mobile-ffi/tests/run_kotlin.py

echo "== all tests passed"

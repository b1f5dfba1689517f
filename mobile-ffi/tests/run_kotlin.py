"""Compiles the generated Kotlin bindings and runs test_phone.kts against a real relay.

Needs: kotlinc (npm package kotlin-compiler) and JNA (Debian libjna-java).
Environment: FIELDSYNC_SERVER, FIELDSYNC_BINDINGS (the kotlin bindings dir),
FIELDSYNC_LIB_DIR (where libfieldsync_mobile.so is), KOTLIN_HOME, JNA_JAR."""

import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(__file__))
from relay_harness import Relay  # noqa: E402


def main():
    kotlin_home = os.environ["KOTLIN_HOME"]
    kotlinc = os.path.join(kotlin_home, "bin", "kotlinc")
    coroutines = os.path.join(kotlin_home, "lib", "kotlinx-coroutines-core-jvm.jar")
    jna = os.environ.get("JNA_JAR", "/usr/share/java/jna.jar")
    bindings = os.environ["FIELDSYNC_BINDINGS"]
    libdir = os.environ["FIELDSYNC_LIB_DIR"]
    work = tempfile.mkdtemp()
    jar = os.path.join(work, "bindings.jar")
    sources = [os.path.join(d, f) for d, _, fs in os.walk(bindings) for f in fs if f.endswith(".kt")]
    subprocess.run([kotlinc, "-Werror", "-nowarn", "-d", jar, "-classpath", f"{jna}:{coroutines}", *sources], check=True)

    relay = Relay(os.environ["FIELDSYNC_SERVER"], work)
    relay.user("li", "salesperson", "east")
    relay.user("wang", "salesperson", "east")
    manager = relay.user("zhao", "manager", "east")
    relay.start()
    try:
        env = dict(os.environ, RELAY_URL=relay.url, WORK_DIR=work, MANAGER_TOKEN=manager,
                   CODE_LI=relay.code("li"), CODE_WANG=relay.code("wang"))
        script = os.path.join(os.path.dirname(__file__), "test_phone.kts")
        subprocess.run([kotlinc, "-J-ea", f"-J-Djna.library.path={libdir}", "-classpath",
                        f"{jar}:{jna}:{coroutines}", "-script", script], check=True, env=env)
    finally:
        relay.stop()


if __name__ == "__main__":
    main()

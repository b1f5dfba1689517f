"""A real fieldsync relay process for the binding tests, and a tiny client for
its head-office API. Shared by the Python test; the Kotlin test gets the same
relay from run_kotlin.py."""

import json
import os
import signal
import socket
import subprocess
import time
import urllib.request
import urllib.error


class Relay:
    def __init__(self, server_bin, workdir):
        self.bin = server_bin
        self.db = os.path.join(workdir, "relay.db")
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc = None

    def admin(self, *args):
        out = subprocess.run([self.bin, "--db", self.db, "admin", *args], capture_output=True, text=True)
        if out.returncode != 0:
            raise RuntimeError(f"admin {args} failed: {out.stderr}")
        return out.stdout

    def user(self, uid, role, region=None):
        args = ["create-user", "--id", uid, "--name", uid, "--role", role]
        if region:
            args += ["--region", region]
        out = self.admin(*args)
        return out.split("keep it safe): ")[1].strip()

    def code(self, uid):
        out = self.admin("enroll-code", "--user", uid)
        return out.split(f"Enrollment code for {uid}: ")[1].split()[0]

    def start(self):
        self.proc = subprocess.Popen(
            # The memory test syncs in a tight loop: allow it more than a phone needs.
            [self.bin, "--db", self.db, "serve", "--listen", f"127.0.0.1:{self.port}", "--sync-burst", "1000"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for _ in range(200):
            try:
                urllib.request.urlopen(self.url + "/healthz", timeout=1).read()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("the relay did not start")

    def kill(self):
        if self.proc:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()
            self.proc = None

    def stop(self):
        if self.proc:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(timeout=30)
            self.proc = None

    def api(self, token, method, path, body=None):
        data = json.dumps(body or {}).encode() if method == "POST" else None
        req = urllib.request.Request(self.url + path, data=data, method=method,
                                     headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=30) as r:
                return r.status, json.loads(r.read() or b"null")
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read() or b"null")

"""The embedded Hive metastore service (a real Hive metastore 2.3 JVM from pyspark's jars, on 127.0.0.1).

Started once for many concurrent callers, reused while it answers, replaced when its recorded pid is
dead or is not a metastore (stale state after a crash or a reboot), stopped by ``stop``; a service that
cannot start fails with one line naming the URI, the log and the reset command.
"""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import time

import pytest

from airflow_provider_spark_predict import metastore
from tests.conftest import REPO

pytestmark = [pytest.mark.spark]


def _ensure_in_subprocesses(home: str, n: int) -> list[str]:
    """``ensure_running(home)`` from ``n`` processes started at once; their URIs."""
    code = "import sys; from airflow_provider_spark_predict import metastore; print(metastore.ensure_running(sys.argv[1]))"
    procs = [subprocess.Popen([sys.executable, "-c", code, home], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True, cwd=REPO) for _ in range(n)]
    out = []
    for p in procs:
        stdout, stderr = p.communicate(timeout=600)
        assert p.returncode == 0, stderr[-3000:]
        out.append(stdout.strip().splitlines()[-1])
    return out


def _state(home: str) -> dict:
    with open(os.path.join(home, "metastore", "state.json")) as fh:
        return json.load(fh)


def _gone(pid: int, timeout: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.2)
    return False


def test_one_service_for_concurrent_callers_reused_replaced_and_stopped(tmp_path):
    home = str(tmp_path / "home")
    try:
        uris = _ensure_in_subprocesses(home, 3)
        assert len(set(uris)) == 1 and uris[0].startswith("thrift://127.0.0.1:"), uris
        first = _state(home)
        assert uris[0] == f"thrift://127.0.0.1:{first['port']}"
        assert metastore.ping(first["port"])
        assert metastore.ensure_running(home) == uris[0], "a running service must be reused"
        info = metastore.status(home)
        assert info["running"] and info["pid"] == first["pid"]

        # crash: the JVM dies, and its pid file now names a live process that is NOT a metastore (pid reuse)
        os.kill(first["pid"], signal.SIGKILL)
        assert _gone(first["pid"])
        with open(os.path.join(home, "metastore", "state.json"), "w") as fh:
            json.dump({"pid": os.getpid(), "port": first["port"]}, fh)
        assert not metastore.status(home)["running"]
        uri = metastore.ensure_running(home)
        second = _state(home)
        assert second["pid"] not in (first["pid"], os.getpid()) and metastore.ping(second["port"])
        assert uri == f"thrift://127.0.0.1:{second['port']}"

        assert metastore.stop(home) is True
        assert _gone(second["pid"]), "stop left the metastore running"
        assert not metastore.status(home)["running"]
        assert metastore.stop(home) is False
    finally:
        metastore.stop(home)


def test_a_service_that_cannot_start_fails_with_one_clear_line(tmp_path, monkeypatch):
    fake_java_home = tmp_path / "jdk"
    (fake_java_home / "bin").mkdir(parents=True)
    java = fake_java_home / "bin" / "java"
    java.write_text("#!/bin/sh\necho 'Error: broken JVM' >&2\nexit 3\n")
    java.chmod(java.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("JAVA_HOME", str(fake_java_home))
    home = str(tmp_path / "home")
    with pytest.raises(metastore.MetastoreError) as err:
        metastore.ensure_running(home)
    message = str(err.value)
    assert "\n" not in message
    assert "thrift://127.0.0.1:" in message and "exited with code 3" in message
    assert metastore.log_path(home) in message and "metastore stop --home" in message
    with open(metastore.log_path(home)) as fh:
        assert "broken JVM" in fh.read()


def test_cli_status_start_stop(tmp_path):
    home = str(tmp_path / "home")
    cli = [sys.executable, "-m", "airflow_provider_spark_predict.metastore"]
    status = subprocess.run([*cli, "status", "--home", home], capture_output=True, text=True, cwd=REPO, timeout=60)
    assert status.returncode == 3 and json.loads(status.stdout)["running"] is False
    stop = subprocess.run([*cli, "stop", "--home", home], capture_output=True, text=True, cwd=REPO, timeout=60)
    assert stop.returncode == 0 and stop.stdout.strip() == "not running"

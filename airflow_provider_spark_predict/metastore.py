"""The embedded default's Hive metastore: one service on 127.0.0.1 per data folder, shared by every job.

Derby embedded in a job's JVM serves one JVM at a time, so two jobs at once (a backfill of many dates)
would fail with ``XSDB6 Another instance of Derby may have already booted the database``. Instead the
metastore runs as its own process (Hive metastore 2.3, whose classes ship in pyspark's ``jars/``), which
alone owns the Derby database ``$SPARK_PREDICT_HOME/metastore_db``, and every job connects to it through
``hive.metastore.uris`` exactly as jobs connect to a production metastore.

The first job that needs it starts it, under a file lock; later jobs reuse it while it answers; a dead
one is restarted. Its pid, port and log live in ``$SPARK_PREDICT_HOME/metastore/``::

    python -m airflow_provider_spark_predict.metastore status|start|stop [--home DIR]

Reset: stop it and delete ``$SPARK_PREDICT_HOME/metastore_db`` (tables) and ``metastore/``.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import json
import os
import signal
import socket
import struct
import subprocess
import sys
import time
from collections.abc import Iterator

from airflow_provider_spark_predict.exceptions import SparkPredictError

HOST = "127.0.0.1"
MAIN_CLASS = "org.apache.hadoop.hive.metastore.HiveMetaStore"
#: JVM system property that marks the process as the metastore of one data folder (pid-reuse safe stop)
HOME_PROPERTY = "spark_predict.metastore.home"
#: seconds to wait for a starting service to answer (a JVM plus schema creation: 10-20 s on 2 busy cores)
START_TIMEOUT = float(os.environ.get("SPARK_PREDICT_METASTORE_START_TIMEOUT", "240"))
#: if set, every started service appends ``pid home`` to this file (the test suite stops them all at exit)
REGISTRY_ENV = "SPARK_PREDICT_METASTORE_REGISTRY"


class MetastoreError(SparkPredictError):
    """The embedded metastore service cannot be started or reached."""


def service_dir(home: str) -> str:
    """Folder of the service's pid/port state, lock and log."""
    return os.path.join(home, "metastore")


def log_path(home: str) -> str:
    """The service's log file."""
    return os.path.join(service_dir(home), "metastore.log")


def _state_path(home: str) -> str:
    return os.path.join(service_dir(home), "state.json")


def _error(home: str, port: int, what: str) -> MetastoreError:
    """One line naming the URI, what went wrong, the log and how to reset."""
    return MetastoreError(
        f"embedded Hive metastore thrift://{HOST}:{port} {what}; see {log_path(home)}; reset it with "
        f"'python -m airflow_provider_spark_predict.metastore stop --home {home}' (to drop every table also "
        f"delete {os.path.join(home, 'metastore_db')})"
    )


@contextlib.contextmanager
def _locked(home: str) -> Iterator[None]:
    os.makedirs(service_dir(home), exist_ok=True)
    with open(os.path.join(service_dir(home), "lock"), "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _read_state(home: str) -> dict[str, int] | None:
    try:
        with open(_state_path(home)) as fh:
            state = json.load(fh)
        return {"pid": int(state["pid"]), "port": int(state["port"])}
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _is_our_process(pid: int, home: str) -> bool:
    """True if ``pid`` is alive and is the metastore of ``home`` (not a recycled pid)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return False
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            cmd = fh.read().decode(errors="replace")
    except OSError:  # no /proc (macOS): ask ps
        proc = subprocess.run(["ps", "-ww", "-o", "command=", "-p", str(pid)], capture_output=True, text=True)
        cmd = proc.stdout
    if "\0Z\0" in cmd or not cmd:  # zombie / gone
        return False
    return f"-D{HOME_PROPERTY}={home}" in cmd and MAIN_CLASS in cmd


def ping(port: int, timeout: float = 10.0) -> bool:
    """True if a Hive metastore answers a thrift ``get_all_databases`` call on ``127.0.0.1:port``."""
    name = b"get_all_databases"
    # TBinaryProtocol strict message: version|CALL, method name, seqid, empty args struct (field stop)
    request = struct.pack(">Ii", 0x80010001, len(name)) + name + struct.pack(">i", 1) + b"\x00"
    try:
        with socket.create_connection((HOST, port), timeout=timeout) as sock:
            sock.sendall(request)
            header = sock.recv(4)
            sock.settimeout(0.2)
            with contextlib.suppress(OSError):  # drain the reply so closing is a clean FIN, not a reset
                while sock.recv(65536):
                    pass
            sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        return False
    return len(header) == 4 and struct.unpack(">I", header)[0] == 0x80010002


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def _jars_dir() -> str:
    """pyspark's ``jars/`` folder (found without importing pyspark)."""
    import importlib.util

    spec = importlib.util.find_spec("pyspark")
    if spec is None or not spec.submodule_search_locations:
        raise MetastoreError("pyspark is not installed: the embedded Hive metastore runs from pyspark's jars/")
    return os.path.join(list(spec.submodule_search_locations)[0], "jars")


def _java() -> str:
    java_home = os.environ.get("JAVA_HOME")
    return os.path.join(java_home, "bin", "java") if java_home else "java"


def _command(home: str, port: int) -> list[str]:
    props = {
        HOME_PROPERTY: home,
        "derby.system.home": home,
        "javax.jdo.option.ConnectionURL": f"jdbc:derby:;databaseName={os.path.join(home, 'metastore_db')};create=true",
        "datanucleus.schema.autoCreateAll": "true",
        "hive.metastore.schema.verification": "false",
        "hive.metastore.warehouse.dir": warehouse_dir(home),
        # Hive's default log4j2 set-up wants an async logger (LMAX disruptor, not shipped): plain console
        "hive.async.log.enabled": "false",
        "hive.root.logger": "console",
        "hive.log.level": "WARN",
    }
    # a small local service started once per data folder: C1-only JIT halves its start-up CPU (6.5 -> 3.2 s)
    return [_java(), "-Xmx384m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1", "-cp", os.path.join(_jars_dir(), "*"),
            *(f"-D{k}={v}" for k, v in props.items()), MAIN_CLASS, "-p", str(port)]


def warehouse_dir(home: str) -> str:
    """The warehouse folder of the embedded default."""
    return os.path.join(home, "warehouse")


def _register(pid: int, home: str) -> None:
    registry = os.environ.get(REGISTRY_ENV)
    if registry:
        with open(registry, "a") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            fh.write(f"{pid} {home}\n")


def _start(home: str) -> dict[str, int]:
    """Start the service (caller holds the lock) and wait until it answers."""
    port = _free_port()
    os.makedirs(warehouse_dir(home), exist_ok=True)
    log = log_path(home)
    with open(log, "ab") as out:
        out.write(f"\n=== starting Hive metastore on thrift://{HOST}:{port} at {time.ctime()}\n".encode())
        out.flush()
        try:
            proc = subprocess.Popen(_command(home, port), stdout=out, stderr=subprocess.STDOUT, cwd=service_dir(home),
                                    stdin=subprocess.DEVNULL, start_new_session=True)
        except OSError as exc:
            raise _error(home, port, f"cannot start ({exc}; Java 17+ is needed)") from exc
    state = {"pid": proc.pid, "port": port}
    with open(_state_path(home) + ".tmp", "w") as fh:
        json.dump(state, fh)
    os.replace(_state_path(home) + ".tmp", _state_path(home))
    _register(proc.pid, home)
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise _error(home, port, f"exited with code {proc.returncode} while starting")
        if ping(port, timeout=5.0):
            return state
        time.sleep(0.5)
    _terminate(proc.pid)
    raise _error(home, port, f"did not answer within {START_TIMEOUT:.0f} s")


def _terminate(pid: int, grace: float = 15.0) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        try:
            # reap it if it is our child; otherwise just probe
            with contextlib.suppress(ChildProcessError):
                if os.waitpid(pid, os.WNOHANG)[0] == pid:
                    return
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.2)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, 0)


def ensure_running(home: str) -> str:
    """The ``thrift://`` URI of the metastore of ``home``; starts it (or restarts a dead one) if needed.

    :param home: the embedded data folder (``$SPARK_PREDICT_HOME``)
    :raises MetastoreError: it cannot be started or does not answer (the message names URI, log and reset)
    """
    home = os.path.abspath(home)
    with _locked(home):
        state = _read_state(home)
        if state and _is_our_process(state["pid"], home):
            if ping(state["port"]):
                return f"thrift://{HOST}:{state['port']}"
            # alive but silent: give a busy machine one more chance, then replace it
            if ping(state["port"], timeout=30.0):
                return f"thrift://{HOST}:{state['port']}"
            _terminate(state["pid"])
        state = _start(home)
        return f"thrift://{HOST}:{state['port']}"


def stop(home: str) -> bool:
    """Stop the metastore of ``home`` if it runs. Returns True if a process was stopped."""
    home = os.path.abspath(home)
    if not os.path.isdir(service_dir(home)):
        return False
    with _locked(home):
        state = _read_state(home)
        stopped = False
        if state and _is_our_process(state["pid"], home):
            _terminate(state["pid"])
            stopped = True
        with contextlib.suppress(FileNotFoundError):
            os.remove(_state_path(home))
        return stopped


def status(home: str) -> dict[str, object]:
    """``{"running", "uri", "pid", "log"}`` of the metastore of ``home`` (running = alive and answering)."""
    home = os.path.abspath(home)
    state = _read_state(home)
    running = bool(state and _is_our_process(state["pid"], home) and ping(state["port"]))
    return {
        "running": running,
        "uri": f"thrift://{HOST}:{state['port']}" if state else None,
        "pid": state["pid"] if state else None,
        "log": log_path(home),
    }


def stop_registered(registry: str) -> int:
    """Stop every service listed in a registry file (see ``REGISTRY_ENV``). Returns how many were stopped."""
    try:
        with open(registry) as fh:
            homes = {line.split(" ", 1)[1].strip() for line in fh if " " in line}
    except FileNotFoundError:
        return 0
    return sum(stop(h) for h in sorted(homes))


def main(argv: list[str] | None = None) -> int:
    """``python -m airflow_provider_spark_predict.metastore status|start|stop [--home DIR]``."""
    from airflow_provider_spark_predict.embedded import data_home

    parser = argparse.ArgumentParser(prog="python -m airflow_provider_spark_predict.metastore",
                                     description="The embedded default's Hive metastore service")
    parser.add_argument("action", choices=["start", "stop", "status"])
    parser.add_argument("--home", default=None, help="data folder (default: $SPARK_PREDICT_HOME)")
    args = parser.parse_args(argv)
    home = os.path.abspath(args.home or data_home())
    if args.action == "start":
        try:
            print(ensure_running(home))
        except MetastoreError as exc:
            print(f"ERROR: {exc}", file=sys.stderr)
            return 1
    elif args.action == "stop":
        print("stopped" if stop(home) else "not running")
    else:
        info = status(home)
        print(json.dumps(info))
        return 0 if info["running"] else 3
    return 0


if __name__ == "__main__":
    sys.exit(main())

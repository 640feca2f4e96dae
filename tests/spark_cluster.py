"""A real Spark standalone cluster (1 master + N workers) on 127.0.0.1, for tests.

The pyspark wheel has no ``sbin/start-*.sh``; the daemons are started with the package's
``bin/spark-class`` (see /work/shared/reference/stack-facts.md), each in its own process group, on free
ports (never 8080), with logs in files. Stopped by PID (process group) at teardown.

Use the session fixture ``standalone_cluster`` (``tests/conftest.py`` imports it for the whole suite, so
every module shares ONE cluster), or ``cluster_with_all_workers`` (the same cluster, with any worker that an
earlier test killed restarted first); elsewhere import them::

    from tests.spark_cluster import cluster_with_all_workers, standalone_cluster  # noqa: F401

    def test_x(standalone_cluster):
        standalone_cluster.master_url  # spark://127.0.0.1:<port>
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest


def free_port() -> int:
    """Return a TCP port that is free on 127.0.0.1 right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def pyspark_home() -> Path:
    """Return the pyspark package folder (it holds ``bin/spark-class`` and ``jars/``)."""
    import pyspark

    return Path(pyspark.__file__).resolve().parent


def _tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError as exc:
        return f"<cannot read {path}: {exc}>"


class StandaloneCluster:
    """A running standalone master and its workers.

    :param base_dir: Folder for logs and worker dirs.
    :param n_workers: Number of workers.
    :param worker_cores: Cores per worker.
    :param worker_memory: Memory per worker (``1g``).
    :param daemon_memory: JVM heap of the master/worker daemons themselves.
    :param daemon_java_options: ``SPARK_DAEMON_JAVA_OPTS`` of the master and workers.
    """

    def __init__(
        self,
        base_dir: Path,
        *,
        n_workers: int = 2,
        worker_cores: int = 1,
        worker_memory: str = "1g",
        daemon_memory: str = "256m",
        daemon_java_options: str = "",
    ) -> None:
        self.base_dir = Path(base_dir)
        self.n_workers = n_workers
        self.worker_cores = worker_cores
        self.worker_memory = worker_memory
        self.daemon_memory = daemon_memory
        self.daemon_java_options = daemon_java_options
        self.spark_home = pyspark_home()
        self.spark_class = str(self.spark_home / "bin" / "spark-class")
        self.master_port = free_port()
        self.master_webui_port = free_port()
        self.master_url = f"spark://127.0.0.1:{self.master_port}"
        self.master_webui_url = f"http://127.0.0.1:{self.master_webui_port}"
        self.worker_dirs: list[Path] = []
        self.worker_webui_ports: list[int] = []
        self.log_files: list[Path] = []
        self.procs: list[subprocess.Popen[bytes]] = []
        self.master_proc: subprocess.Popen[bytes] | None = None
        self.worker_procs: list[subprocess.Popen[bytes]] = []

    # ------------------------------------------------------------------ start / stop
    @property
    def pids(self) -> list[int]:
        """PIDs of the master and of the workers that are still running."""
        return [p.pid for p in self.procs if p.poll() is None]

    def _env(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            SPARK_HOME=str(self.spark_home),
            SPARK_LOCAL_IP="127.0.0.1",
            SPARK_DAEMON_MEMORY=self.daemon_memory,
            SPARK_NO_DAEMONIZE="1",
            # Spark 4 master: no REST server (port 6066 could collide between test sessions).
            SPARK_MASTER_OPTS="-Dspark.master.rest.enabled=false",
            SPARK_DAEMON_JAVA_OPTS=self.daemon_java_options,
        )
        env.pop("PYSPARK_PYTHON", None)
        env.pop("PYSPARK_DRIVER_PYTHON", None)
        env.update(extra or {})
        return env

    def _spawn(
        self, name: str, args: list[str], extra_env: dict[str, str] | None = None
    ) -> subprocess.Popen[bytes]:
        log_path = self.base_dir / f"{name}.log"
        self.log_files.append(log_path)
        with open(log_path, "ab") as log:
            proc = subprocess.Popen(
                [self.spark_class, *args],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=self._env(extra_env),
                cwd=str(self.base_dir),
                start_new_session=True,  # own process group: its executors die with it
            )
        self.procs.append(proc)
        return proc

    def start(self, timeout: float = 120.0) -> StandaloneCluster:
        """Start the master and the workers; return when all workers are registered.

        :param timeout: Seconds to wait for ``aliveworkers == n_workers``.
        :raises RuntimeError: with the tail of every log if the cluster does not come up.
        """
        self.base_dir.mkdir(parents=True, exist_ok=True)
        self.master_proc = self._spawn(
            "master",
            [
                "org.apache.spark.deploy.master.Master",
                "--host", "127.0.0.1",
                "--port", str(self.master_port),
                "--webui-port", str(self.master_webui_port),
            ],
        )  # fmt: skip
        for i in range(self.n_workers):
            self.worker_procs.append(self._start_worker(i))
        try:
            self.wait_for_workers(self.n_workers, timeout=timeout)
        except Exception:
            self.stop()
            raise
        return self

    def _start_worker(self, i: int) -> subprocess.Popen[bytes]:
        """Spawn worker ``i`` (its dir and web UI port are kept across restarts)."""
        worker_dir = self.base_dir / f"worker-{i}"
        worker_dir.mkdir(exist_ok=True)
        if i == len(self.worker_dirs):
            self.worker_dirs.append(worker_dir)
            self.worker_webui_ports.append(free_port())
        return self._spawn(
            f"worker-{i}",
            [
                "org.apache.spark.deploy.worker.Worker",
                "--host", "127.0.0.1",
                "--cores", str(self.worker_cores),
                "--memory", self.worker_memory,
                "--webui-port", str(self.worker_webui_ports[i]),
                "--work-dir", str(worker_dir),
                self.master_url,
            ],
            {"SPARK_WORKER_DIR": str(worker_dir)},
        )  # fmt: skip

    def ensure_workers(self, timeout: float = 120.0) -> None:
        """Restart every worker that is not running (e.g. killed by a test); return when all are alive.

        :param timeout: Seconds to wait for ``aliveworkers == n_workers``.
        """
        for i, proc in enumerate(self.worker_procs):
            if proc.poll() is not None:
                self.worker_procs[i] = self._start_worker(i)
        self.wait_for_workers(self.n_workers, timeout=timeout)

    def master_state(self) -> dict:
        """Return the master web UI's JSON (``aliveworkers``, ``workers``, ``activeapps``, ...)."""
        with urllib.request.urlopen(f"{self.master_webui_url}/json/", timeout=5) as resp:
            return json.loads(resp.read().decode())

    def wait_for_workers(self, n: int, timeout: float = 120.0) -> dict:
        """Poll the master until exactly ``n`` workers are alive.

        :param n: Expected number of alive workers.
        :param timeout: Seconds.
        :raises RuntimeError: with the log tails if it does not happen in time or a daemon died.
        """
        deadline = time.monotonic() + timeout
        last: object = None
        while time.monotonic() < deadline:
            dead = [p for p in ([self.master_proc] if self.master_proc else []) if p.poll() is not None]
            if dead:
                raise RuntimeError(f"Spark master exited with {dead[0].returncode}\n{self.logs_tail()}")
            try:
                state = self.master_state()
                last = state.get("aliveworkers")
                if last == n:
                    return state
            except (OSError, ValueError) as exc:
                last = exc
            time.sleep(0.5)
        raise RuntimeError(
            f"Spark standalone cluster not ready after {timeout:.0f} s (aliveworkers={last!r}, wanted {n})\n"
            + self.logs_tail()
        )

    def logs_tail(self, lines: int = 40) -> str:
        """Return the last lines of every daemon log, for failure messages."""
        return "\n".join(f"----- {p.name} -----\n{_tail(p, lines)}" for p in self.log_files)

    def kill_one_worker(self, index: int = 0, sig: int = signal.SIGKILL) -> int:
        """Kill one worker and its executors (its process group), like a lost node.

        :param index: Which worker (0-based).
        :param sig: Signal; SIGKILL by default (no graceful shutdown).
        :return: The killed worker's PID.
        """
        proc = self.worker_procs[index]
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=30)
        return proc.pid

    def stop(self, timeout: float = 20.0) -> None:
        """Stop workers then the master: SIGTERM to each process group, SIGKILL after ``timeout``."""
        for proc in [*reversed(self.worker_procs), *([self.master_proc] if self.master_proc else [])]:
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        for proc in self.procs:
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)
            # executors of a terminated worker share its process group; make sure none is left
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)

    def __enter__(self) -> StandaloneCluster:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


@pytest.fixture(scope="session")
def standalone_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StandaloneCluster]:
    """A session-wide standalone cluster: master + 2 workers (1 core, 1g each) on 127.0.0.1."""
    from tests.conftest import TEST_JAVA_OPTIONS

    cluster = StandaloneCluster(tmp_path_factory.mktemp("spark-standalone"), daemon_java_options=TEST_JAVA_OPTIONS)
    cluster.start()
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture
def cluster_with_all_workers(standalone_cluster: StandaloneCluster) -> StandaloneCluster:
    """The session's standalone cluster with every worker running: a worker that an earlier test killed is
    restarted first (one request to the master when all are up), so no test depends on test order."""
    standalone_cluster.ensure_workers()
    return standalone_cluster

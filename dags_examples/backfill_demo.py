"""Backfill the example DAG through a real Airflow scheduler, several dates at once, on the embedded default.

Starts Airflow 3's ``api-server`` (the Execution API that task processes call), ``dag-processor`` and
``scheduler`` (``LocalExecutor``, SQLite) on 127.0.0.1, runs ``airflow backfill create`` for a date range
with ``--max-active-runs`` runs at once (each one a spark-submit on local[2], all sharing the embedded
Hive metastore service), waits for it, prints each date's outcome and stops the processes. Run after
``make demo`` (``make backfill-demo``), with the same environment (AIRFLOW_HOME, SPARK_PREDICT_HOME, ...)::

    python dags_examples/backfill_demo.py --from-date 2026-01-03 --to-date 2026-01-05 --max-active-runs 3

This file is not a DAG (the dag-processor imports it and finds none).
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import date, timedelta

DAG_ID = "daily_user_scoring"
BIN = os.path.dirname(sys.executable)

# Written as ``airflow_local_settings.py`` (Airflow's documented hook ``create_metadata_engine``) into a folder
# put first on the PYTHONPATH of every Airflow process started here.
#
# Why: on SQLite, SQLAlchemy's SAVEPOINT (``session.begin_nested()``) outside a transaction starts a DEFERRED
# transaction. ``backfill create`` does exactly that per date, then reads (the existing run; with
# ``--reprocess-behavior`` the whole ``dag.clear()``) before its first write. If the scheduler or the
# dag-processor committed in between (they commit every second), SQLite cannot upgrade the stale read
# snapshot to a write and fails at once with "database is locked" (SQLITE_BUSY_SNAPSHOT in WAL mode; the busy
# timeout does not apply). Starting such a transaction with BEGIN IMMEDIATE takes the write lock first (waiting
# up to the busy timeout for the other writer), so the reads see the latest data and the writes cannot conflict.
# Transactions that pysqlite opens itself (before the first INSERT/UPDATE/DELETE) begin with a write: unchanged.
LOCAL_SETTINGS = '''"""Airflow local settings written by backfill_demo.py (SQLite: SAVEPOINTs begin IMMEDIATE)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import create_engine, event


def create_metadata_engine(sql_alchemy_conn: str, *, engine_args: dict[str, Any], connect_args: dict[str, Any]):
    engine = create_engine(sql_alchemy_conn, connect_args=connect_args, **engine_args, future=True)
    if engine.dialect.name == "sqlite":

        @event.listens_for(engine, "before_cursor_execute")
        def _savepoint_begins_immediate(conn, cursor, statement, parameters, context, executemany):
            if statement.startswith("SAVEPOINT") and not conn.connection.dbapi_connection.in_transaction:
                cursor.execute("BEGIN IMMEDIATE")

    return engine
'''


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class LocalAirflow:
    """Airflow's api-server, dag-processor and scheduler (LocalExecutor, SQLite) on 127.0.0.1.

    :param airflow_home: AIRFLOW_HOME (its ``airflow.db`` is the SQLite metadata database)
    :param env: extra environment for every Airflow process (e.g. SPARK_PREDICT_HOME)
    :param parallelism: task slots of the LocalExecutor
    """

    def __init__(self, airflow_home: str, env: dict[str, str] | None = None, parallelism: int = 4) -> None:
        self.home = os.path.abspath(airflow_home)
        os.makedirs(self.home, exist_ok=True)
        port = _free_port()
        self.env = dict(os.environ)
        self.env.update(env or {})
        settings_dir = os.path.join(self.home, "backfill_demo_settings")
        os.makedirs(settings_dir, exist_ok=True)
        with open(os.path.join(settings_dir, "airflow_local_settings.py"), "w") as fh:
            fh.write(LOCAL_SETTINGS)
        self.env.update({
            "PYTHONPATH": os.pathsep.join(p for p in (settings_dir, self.env.get("PYTHONPATH")) if p),
            "AIRFLOW_HOME": self.home,
            # busy timeout: a writer waits up to 60 s for another one's SQLite write lock (default 5 s)
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{self.home}/airflow.db?timeout=60",
            "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
            "AIRFLOW__CORE__PARALLELISM": str(parallelism),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{port}/execution/",
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__API__PORT": str(port),
            "AIRFLOW__API__WORKERS": "1",
            "AIRFLOW__API_AUTH__JWT_SECRET": self.env.get("AIRFLOW__API_AUTH__JWT_SECRET", os.urandom(16).hex()),
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
            "AIRFLOW__SCHEDULER__SCHEDULER_IDLE_SLEEP_TIME": "1",
            # only the backfill's runs: no run of "the latest interval" when the DAG is unpaused
            "AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE": "False",
        })
        self.procs: dict[str, subprocess.Popen] = {}
        self.logs: dict[str, str] = {}

    def cli(self, *args: str, timeout: int = 600) -> str:
        """Run ``airflow <args>``; its stdout (raises with the output tail if it fails)."""
        proc = subprocess.run([os.path.join(BIN, "airflow"), *args], env=self.env, capture_output=True, text=True,
                              timeout=timeout, cwd=self.home)
        if proc.returncode != 0:
            raise RuntimeError(f"airflow {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n"
                               f"{proc.stderr[-3000:]}")
        return proc.stdout

    def start(self, migrate: bool = True) -> None:
        """Migrate the database and start the three processes (logs: ``<home>/<name>.out``).

        :param migrate: run ``airflow db migrate`` first (``False``: the database is known to be migrated)
        """
        if migrate:
            self.cli("db", "migrate")
        for name in ("api-server", "dag-processor", "scheduler"):
            log = os.path.join(self.home, f"{name}.out")
            self.logs[name] = log
            with open(log, "ab") as out:
                self.procs[name] = subprocess.Popen([os.path.join(BIN, "airflow"), name], env=self.env, stdout=out,
                                                    stderr=subprocess.STDOUT, cwd=self.home, start_new_session=True)

    def tails(self, lines: int = 40) -> str:
        """The last lines of every process log (for failure messages)."""
        parts = []
        for name, log in self.logs.items():
            with open(log, errors="replace") as fh:
                tail = "".join(fh.readlines()[-lines:])
            parts.append(f"---- airflow {name} (exit code {self.procs[name].poll()}), {log} ----\n{tail}")
        return "\n".join(parts)

    def stop(self) -> None:
        """Stop the processes (SIGTERM to each process group, SIGKILL after 30 s)."""
        for proc in self.procs.values():
            if proc.poll() is None:
                os.killpg(proc.pid, 15)
        deadline = time.monotonic() + 30
        for proc in self.procs.values():
            try:
                proc.wait(timeout=max(1.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, 9)
                proc.wait(timeout=30)

    def query(self, sql: str, *params: object) -> list[tuple]:
        """A read-only query on the SQLite metadata database."""
        with sqlite3.connect(os.path.join(self.home, "airflow.db"), timeout=30) as db:
            return db.execute(sql, params).fetchall()

    def wait_for(self, what: str, predicate: Callable[[], bool], timeout: float) -> None:
        """Poll ``predicate`` every second; raise with the process logs' tails if a process dies or time is up."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for name, proc in self.procs.items():
                if proc.poll() is not None:
                    raise RuntimeError(f"airflow {name} exited ({proc.returncode}) while waiting for {what}\n"
                                       f"{self.tails()}")
            try:
                if predicate():
                    return
            except sqlite3.OperationalError:  # locked for a moment, or the table is not there yet
                pass
            time.sleep(1)
        raise RuntimeError(f"timed out after {timeout:.0f} s waiting for {what}\n{self.tails()}")

    def wait_for_dag(self, dag_id: str = DAG_ID, timeout: float = 300) -> None:
        """Wait until the dag-processor has serialized ``dag_id`` (a backfill needs it)."""
        self.wait_for(f"the DAG {dag_id} to be parsed",
                      lambda: bool(self.query("SELECT 1 FROM serialized_dag WHERE dag_id = ?", dag_id)), timeout)

    def backfill(self, from_date: str, to_date: str, *extra: str, max_active_runs: int = 3,
                 dag_id: str = DAG_ID, timeout: float = 1200) -> dict[str, tuple[str, str]]:
        """``airflow backfill create`` for the days ``from_date``..``to_date`` (inclusive); wait for its runs.

        Unpauses the DAG if paused, waits until an earlier backfill of the DAG is marked complete (Airflow admits one running
        backfill per DAG; the scheduler marks them every 30 s), then until every run of this one has finished.

        :return: date (``ds``) -> (run_id, state) of the backfill's runs
        """
        self.wait_for(f"earlier backfills of {dag_id} to be marked complete", lambda: not self.query(
            "SELECT id FROM backfill WHERE dag_id = ? AND completed_at IS NULL", dag_id), timeout)
        # the scheduler starts no run of a paused DAG, backfill runs included (a DAG that `airflow dags test`
        # registered first is paused); no scheduled run follows: use_job_schedule is off
        if self.query("SELECT 1 FROM dag WHERE dag_id = ? AND is_paused", dag_id):
            self.cli("dags", "unpause", dag_id)
        before = {r[0] for r in self.query("SELECT id FROM backfill")}
        # the runs of a CronDataIntervalTimetable start at 03:00 on ds: the range ends the day after
        end = (date.fromisoformat(to_date) + timedelta(days=1)).isoformat()
        self.cli("backfill", "create", "--dag-id", dag_id, "--from-date", from_date, "--to-date", end,
                 "--max-active-runs", str(max_active_runs), *extra)
        new = [r[0] for r in self.query("SELECT id FROM backfill") if r[0] not in before]
        if len(new) != 1:
            raise RuntimeError(f"expected one new backfill, found {new}")
        sql = ("SELECT b.logical_date, r.run_id, r.state FROM backfill_dag_run b LEFT JOIN dag_run r "
               "ON r.id = b.dag_run_id WHERE b.backfill_id = ?")
        self.wait_for(f"the runs of backfill {new[0]} ({from_date}..{to_date})", lambda: all(
            state in ("success", "failed") for _, run_id, state in self.query(sql, new[0]) if run_id), timeout)
        return {str(ld)[:10]: (run_id, state) for ld, run_id, state in self.query(sql, new[0])}

    def task_log(self, run_id: str, task_id: str = "score_users", dag_id: str = DAG_ID) -> str:
        """The latest attempt's task log of a run."""
        import glob

        files = sorted(glob.glob(os.path.join(self.home, "logs", f"dag_id={dag_id}", f"run_id={run_id}",
                                              f"task_id={task_id}", "attempt=*.log")))
        if not files:
            raise FileNotFoundError(f"no task log for {dag_id} run {run_id} under {self.home}/logs")
        with open(files[-1], errors="replace") as fh:
            return fh.read()


def report_summary(task_log: str, keys: tuple[str, ...] = ("status", "published", "rows out", "output")) -> list[str]:
    """``key: value`` of the run report's lines ``keys`` in a task log (JSON lines or plain text)."""
    text = task_log
    for line in task_log.splitlines():
        if "spark-predict run report" in line:
            try:
                text = str(json.loads(line).get("event", line))
            except ValueError:
                text = line
    found: dict[str, str] = {}
    for line in text.replace("\\n", "\n").splitlines():
        key, sep, value = line.partition(" : ")
        if sep and key.strip() in keys:
            found.setdefault(key.strip(), value.strip())
    skipped = ["not re-scored: already scored and checked with the same input and model"] if "not submitting:" in task_log else []
    return [f"{k}: {found[k]}" for k in keys if k in found] + skipped


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--from-date", default="2026-01-03")
    parser.add_argument("--to-date", default="2026-01-05")
    parser.add_argument("--max-active-runs", type=int, default=3)
    args = parser.parse_args()
    airflow = LocalAirflow(os.environ.get("AIRFLOW_HOME") or os.path.expanduser("~/airflow"))
    started = time.monotonic()
    try:
        print("== starting airflow api-server, dag-processor and scheduler (LocalExecutor) on 127.0.0.1", flush=True)
        airflow.start()
        airflow.wait_for_dag()
        print(f"== airflow backfill create --dag-id {DAG_ID} --from-date {args.from_date} (to {args.to_date}) "
              f"--max-active-runs {args.max_active_runs}", flush=True)
        runs = airflow.backfill(args.from_date, args.to_date, "--reprocess-behavior", "completed",
                                max_active_runs=args.max_active_runs)
        for ds, (run_id, state) in sorted(runs.items()):
            print(f"{ds}: run {state}  " + " | ".join(report_summary(airflow.task_log(run_id))), flush=True)
        print(f"== done in {time.monotonic() - started:.0f} s; task logs under {airflow.home}/logs", flush=True)
        return 0 if all(state == "success" for _, state in runs.values()) else 1
    finally:
        airflow.stop()


if __name__ == "__main__":
    sys.exit(main())

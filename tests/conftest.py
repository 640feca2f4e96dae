"""Shared test set-up: an isolated Airflow home (SQLite), Spark on loopback with no UI, and helpers.

Airflow reads its configuration when first imported, so the environment is set here, at import time,
before any test module imports airflow.
"""

from __future__ import annotations

import gc
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from typing import Any

import pytest

#: ONE standalone cluster for every module that asks for ``standalone_cluster`` (tests/cluster, tests/staging)
from tests.spark_cluster import cluster_with_all_workers, standalone_cluster  # noqa: F401

#: stops every embedded metastore service the session started (they outlive the processes that start them)
pytest_plugins = ["tests.metastore_fixture"]

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.dirname(sys.executable)
_BASE = tempfile.mkdtemp(prefix="spark-predict-tests-")
#: Data folder (metastore, warehouse, store, models) of the shared in-process Hive session.
SHARED_HOME = os.path.join(_BASE, "shared-home")
_SPARK_CONF_DIR = os.path.join(_BASE, "spark-conf")
os.makedirs(_SPARK_CONF_DIR, exist_ok=True)
#: JVM options of every Spark JVM the tests start (drivers, executors, the standalone daemons): the tests'
#: inputs are thousands of rows, so the JVMs' work is start-up, and C2's JIT compilation and G1's threads
#: cost more CPU than they save. Measured on the demo's ``airflow dags test`` (2 cores): 32 -> 21 CPU-s per
#: run. Test tuning only: the package sets no JVM option for Spark, production JVMs keep their defaults.
TEST_JAVA_OPTIONS = "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC"
with open(os.path.join(_SPARK_CONF_DIR, "spark-defaults.conf"), "w") as _fh:
    # ports 4040+ collide between parallel jobs; tests never need the UI
    _fh.write("spark.ui.enabled false\nspark.driver.memory 1g\n"
              f"spark.driver.extraJavaOptions {TEST_JAVA_OPTIONS}\nspark.executor.extraJavaOptions {TEST_JAVA_OPTIONS}\n")

os.environ.update(
    {
        "AIRFLOW_HOME": os.path.join(_BASE, "airflow"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_FOLDER": os.path.join(REPO, "dags_examples"),
        "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
        "AIRFLOW_CONN_SPARK_DEFAULT": '{"conn_type": "spark", "host": "local[2]"}',
        "SPARK_LOCAL_IP": "127.0.0.1",
        "SPARK_CONF_DIR": _SPARK_CONF_DIR,
        "SPARK_PREDICT_HOME": os.path.join(_BASE, "home"),
        "PATH": BIN + os.pathsep + os.environ.get("PATH", ""),
        "PYSPARK_PYTHON": sys.executable,
        "PYSPARK_DRIVER_PYTHON": sys.executable,
    }
)


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Run the tests marked ``kills_worker`` after every other test: they leave the session's standalone
    cluster short of a worker, which the ``cluster_with_all_workers`` fixture would otherwise restart for the
    next cluster test (a correct run does not depend on this order; it only saves that restart)."""
    items.sort(key=lambda item: item.get_closest_marker("kills_worker") is not None)  # stable sort


@pytest.fixture(scope="session", autouse=True)
def _close_spark_gateway() -> Iterator[None]:
    """At the end of the session, stop any SparkContext still running and close the py4j gateway while
    pytest's output streams are still open: otherwise py4j logs its connection shutdown at interpreter
    exit into a closed stream and a "--- Logging error ---" traceback follows pytest's summary."""
    yield
    if "pyspark" not in sys.modules:
        return
    from pyspark import SparkContext

    if SparkContext._active_spark_context is not None:
        SparkContext._active_spark_context.stop()
    gateway = SparkContext._gateway
    if gateway is not None:
        gateway.shutdown()
        SparkContext._gateway = None
        SparkContext._jvm = None
        del gateway
        gc.collect()  # the closed connections' finalizers log now, not at interpreter exit


#: A copy of the SQLite metadata database as ``airflow db migrate`` left it (no DAG, no run), for tests that
#: start their own Airflow home (the backfill test): their own ``db migrate`` then only checks it.
MIGRATED_DB = os.path.join(_BASE, "airflow-migrated.db")


@pytest.fixture(scope="session")
def airflow_db() -> str:
    """Migrate the SQLite metadata database once per test session (and keep a pristine copy, MIGRATED_DB)."""
    subprocess.run([os.path.join(BIN, "airflow"), "db", "migrate"], check=True, capture_output=True, timeout=600)
    shutil.copyfile(os.path.join(os.environ["AIRFLOW_HOME"], "airflow.db"), MIGRATED_DB)
    return os.environ["AIRFLOW_HOME"]


@pytest.fixture
def spark_home(tmp_path, monkeypatch) -> str:
    """A fresh embedded data folder (metastore, warehouse, store) for one test."""
    home = str(tmp_path / "home")
    monkeypatch.setenv("SPARK_PREDICT_HOME", home)
    return home


def run_python(code_or_args: list[str], env: dict | None = None, timeout: int = 600) -> subprocess.CompletedProcess:
    """Run this interpreter in a subprocess with the test environment (Derby serves one JVM at a time,
    so anything that needs the metastore runs in its own short-lived process)."""
    full_env = dict(os.environ)
    full_env.update(env or {})
    proc = subprocess.run([sys.executable, *code_or_args], capture_output=True, text=True, env=full_env,
                          timeout=timeout, cwd=REPO)
    if proc.returncode != 0:
        raise AssertionError(f"subprocess failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-5000:]}")
    return proc


def spark_sql(home: str, queries: dict[str, str]) -> dict[str, list[list]]:
    """Run SQL queries on the embedded metastore of ``home`` in a subprocess; name -> rows."""
    import json

    proc = run_python([os.path.join(REPO, "tests", "helpers", "spark_query.py"), json.dumps(queries)],
                      env={"SPARK_PREDICT_HOME": home})
    line = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")][-1]
    return json.loads(line[len("RESULT "):])


def generate_demo(home: str, dates: list[str], rows: int) -> None:
    """Create the demo input table and model under ``home`` (subprocess)."""
    run_python([os.path.join(REPO, "dags_examples", "generate_demo_data.py"), "--rows", str(rows), "--dates", *dates],
               env={"SPARK_PREDICT_HOME": home})


# ---- one Hive-enabled SparkSession in the test process, shared by the in-session scenarios -------------
#
# Scenarios that are not about submission (checks, faults, bad input, strategies, paths, flavors) run the
# job's code on this session (``tests.helpers.in_session.run_spec``) instead of a spark-submit JVM each.
# Everything up to the submission is the real operator -> hook path (``in_session`` fixture below).
# The session reaches SHARED_HOME's metastore *service* (thrift, like any Hive client), so real spark-submits
# on the same tables may run meanwhile (``test_submit_scenarios.py``); queries on it go through the session
# (``session_sql``: no subprocess JVM to start).

_generated: set[tuple[str, tuple[str, ...], int]] = set()


@pytest.fixture(scope="module")
def shared_spark() -> Iterator[Any]:
    """The shared local[2] Hive session on SHARED_HOME (no UI); stopped at the end of the module, so no
    session outlives the module that used it (the py4j gateway JVM stays up and is reused)."""
    from pyspark.sql import SparkSession

    from airflow_provider_spark_predict.embedded import hive_conf

    builder = (SparkSession.builder.master("local[2]").appName("spark-predict-tests-shared")
               .config("spark.ui.enabled", "false").config("spark.ui.showConsoleProgress", "false")
               .config("spark.sql.shuffle.partitions", "4"))
    for key, value in hive_conf(SHARED_HOME).items():
        builder = builder.config(key, value)
    spark = builder.enableHiveSupport().getOrCreate()
    spark.sparkContext.setLogLevel("WARN")
    # an already running gateway JVM ignores extraJavaOptions: keep derby.log out of the cwd anyway
    jvm: Any = spark.sparkContext._jvm
    jvm.java.lang.System.setProperty("derby.system.home", SHARED_HOME)
    try:
        yield spark
    finally:
        spark.stop()


def session_sql(spark: Any, queries: dict[str, str]) -> dict[str, list[list]]:
    """Run SQL queries on the shared session; name -> rows (as lists)."""
    return {name: [list(r) for r in spark.sql(sql).collect()] for name, sql in queries.items()}


def demo_in_session(spark: Any, dates: list[str], rows: int) -> str:
    """The demo input table ``demo.user_features`` and model under SHARED_HOME, made once per test session
    with the functions of ``dags_examples/generate_demo_data.py`` on the shared session; returns the model
    path. Read-only for the tests: they write their own output tables."""
    sys.path.insert(0, os.path.join(REPO, "dags_examples"))
    try:
        import generate_demo_data as gen
    finally:
        sys.path.pop(0)
    model = os.path.join(SHARED_HOME, "models", "user_class_xgb.json")
    key = ("demo.user_features", tuple(dates), rows)
    if key not in _generated:
        if not os.path.exists(model):
            gen.train_model(model)
        gen.write_partitions(spark, "demo.user_features", dates, rows)
        _generated.add(key)
    return model


@pytest.fixture(scope="module")
def in_session(shared_spark) -> Iterator[str]:
    """Operators/hooks run as in production, but ``SparkSubmitHook.submit`` runs the job on the shared
    session instead of starting spark-submit (it reads the spec the hook staged, like the job does).
    SPARK_PREDICT_HOME is SHARED_HOME (its store, warehouse and metastore); returns it."""
    from airflow.providers.apache.spark.hooks.spark_submit import SparkSubmitHook

    from airflow_provider_spark_predict.job.hadoopfs import HadoopFS
    from airflow_provider_spark_predict.spec import ScoringSpec
    from tests.helpers.in_session import run_spec

    def submit(hook: Any, application: str = "", **kwargs: Any) -> None:
        args = list(hook._application_args or [])
        spec_uri = args[args.index("--spec") + 1]
        spec = ScoringSpec.from_json(HadoopFS(shared_spark).read_text(spec_uri)).validate()
        report = run_spec(shared_spark, spec)
        if report["status"] == "error":  # spark-submit exits non-zero, the hook raises
            raise RuntimeError(f"in-session job failed: {report.get('error_type')}: {report.get('error')}")

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(SparkSubmitHook, "submit", submit)
        mp.setenv("SPARK_PREDICT_HOME", SHARED_HOME)
        yield SHARED_HOME

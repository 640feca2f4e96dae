"""Fixtures for the cluster tests: the standalone cluster, a Spark connection to it, one data folder with
small Hive tables on its embedded metastore service (once per session), and (once per session) a packed
scoring venv that the driver's venv lacks packages of.

Everything is real: a Spark standalone master + 2 workers (1 core each) on 127.0.0.1, spark-submit through
Airflow's SparkSubmitHook in client deploy mode, an embedded Derby metastore and a ``file://`` warehouse
that the executors on the workers read and write (one machine), ``file://`` stores.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from importlib.metadata import version
from pathlib import Path

import pytest

from tests.conftest import spark_sql
from tests.staging.helpers import BASE_PYTHON, TINY_PACKAGE

HERE = Path(__file__).resolve().parent
CONN_ID = "spark_standalone_test"
#: The input partitions of ``demo.feats`` in the session's cluster data folder: date -> (rows, files).
#: One per test module, so no test reads a partition another test writes.
FEATS_PARTITIONS = {"2026-01-01": (400, 4), "2026-02-01": (200, 4), "2026-03-01": (1200, 2)}
#: Packages of the packed scoring venv, at the driver venv's versions (pickles cross between them).
SCORING_PACKAGES = ["numpy", "pandas", "pyarrow", "scikit-learn", "scipy", "joblib", "threadpoolctl"]


@pytest.fixture
def cluster_conn(cluster_with_all_workers, monkeypatch) -> str:
    """``AIRFLOW_CONN_SPARK_STANDALONE_TEST`` -> the standalone master (every worker running); returns the
    conn id."""
    standalone_cluster = cluster_with_all_workers
    _, port = standalone_cluster.master_url.rsplit(":", 1)
    monkeypatch.setenv(f"AIRFLOW_CONN_{CONN_ID.upper()}",
                       json.dumps({"conn_type": "spark", "host": "spark://127.0.0.1", "port": int(port)}))
    return CONN_ID


def cluster_conf(home: str, **extra: str) -> dict[str, str]:
    """Spark conf for a client-mode job on the test cluster with the embedded metastore of ``home``."""
    from airflow_provider_spark_predict import embedded

    conf = {
        **embedded.hive_conf(home),
        "spark.executor.memory": "512m",
        "spark.executor.cores": "1",
        "spark.cores.max": "2",
        "spark.sql.shuffle.partitions": "4",
    }
    conf.update(extra)
    return conf


def make_table(home: str, table: str, partitions: dict[str, tuple[int, int]], n_features: int = 4) -> None:
    """Create a Hive table ``pin string, f0..f{n-1} double`` PARTITIONED BY dt with, per ``date -> (rows,
    files)``, one partition of ``rows`` deterministic rows in ``files`` files (one subprocess on the embedded
    metastore of ``home``)."""
    db = table.split(".")[0]
    cols = ", ".join(f"f{i} DOUBLE" for i in range(n_features))
    exprs = ", ".join(f"CAST((id * {i + 3}) % 101 AS DOUBLE) / 10.0 AS f{i}" for i in range(n_features))
    queries = {
        "db": f"CREATE DATABASE IF NOT EXISTS {db}",
        "t": f"CREATE TABLE IF NOT EXISTS {table} (pin STRING, {cols}) PARTITIONED BY (dt STRING) STORED AS PARQUET",
    }
    for date, (rows, files) in partitions.items():
        queries[f"i{date}"] = (
            f"INSERT OVERWRITE TABLE {table} PARTITION (dt='{date}') "
            f"SELECT /*+ REPARTITION({files}) */ concat('u', lpad(CAST(id AS STRING), 7, '0')) AS pin, "
            f"{exprs} FROM range({rows})")
    spark_sql(home, queries)


@pytest.fixture(scope="session")
def cluster_home(request, tmp_path_factory) -> str:
    """The data folder of the cluster tests (warehouse + ONE embedded metastore service for the session)
    with ``demo.feats`` holding :data:`FEATS_PARTITIONS` (read-only for the tests). Each test writes its own
    output table or partition and keeps its store and models in its own ``tmp_path``.

    When a collected test needs ``scoring_venv``, its build starts here, in the background."""
    if any("scoring_venv" in getattr(item, "fixturenames", ()) for item in request.session.items):
        request.getfixturevalue("scoring_venv_build")
    home = str(tmp_path_factory.mktemp("cluster") / "home")
    make_table(home, "demo.feats", FEATS_PARTITIONS)
    return home


class FakeTI:
    """The part of a task instance the operator uses: ``try_number`` and ``xcom_push``."""

    def __init__(self, try_number: int = 1) -> None:
        self.try_number = try_number
        self.xcoms: dict[str, object] = {}

    def xcom_push(self, key: str, value: object) -> None:
        self.xcoms[key] = value


@pytest.fixture(scope="session")
def shared_store(tmp_path_factory) -> str:
    """A ``file://`` store for the whole session (the scoring venv is packed into it once)."""
    return f"file://{tmp_path_factory.mktemp('shared-store')}"


def _build_scoring_venv(base: Path) -> Path:
    """Build the scoring venv under ``base`` (see ``scoring_venv``); returns its prefix."""
    prefix = base / "env"
    probe_src = base / "probe_pkg"  # a copy: pip builds in-tree and would leave build/ in the repo
    shutil.copytree(HERE / "probe_pkg", probe_src, ignore=shutil.ignore_patterns("__pycache__"))
    subprocess.run([BASE_PYTHON, "-m", "venv", "--without-pip", str(prefix)], check=True, timeout=300)
    pins = [f"{p}=={version(p)}" for p in SCORING_PACKAGES]
    proc = subprocess.run(
        # --no-compile: no .pyc for scipy/pandas/scikit-learn's thousands of modules (the executors compile what
        # they import)
        [sys.executable, "-m", "pip", "--python", str(prefix / "bin" / "python"), "install", "-q", "--no-compile",
         *pins, TINY_PACKAGE, str(probe_src)],
        capture_output=True, text=True, timeout=900,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"building the scoring venv failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-3000:]}")
    check = subprocess.run([str(prefix / "bin" / "python"), "-c", "import pyspark"], capture_output=True,
                           env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"})
    assert check.returncode != 0, "the scoring venv must not contain pyspark (the test proves it is not needed)"
    return prefix


@pytest.fixture(scope="session")
def scoring_venv_build(tmp_path_factory) -> Iterator[Future[Path]]:
    """The scoring venv being built in a background thread (pip mostly waits on the disk, so it overlaps
    well with the Spark start-ups of the tests that run meanwhile)."""
    base = tmp_path_factory.mktemp("scoring-venv")
    with ThreadPoolExecutor(1, thread_name_prefix="scoring-venv") as pool:
        yield pool.submit(_build_scoring_venv, base)


@pytest.fixture(scope="session")
def scoring_venv(scoring_venv_build) -> Path:
    """A venv with numpy, pandas, pyarrow, scikit-learn (driver-venv versions), ``pyjokes`` and the test-only
    ``spx_probe`` package. No pyspark: Spark puts its own pyspark.zip/py4j on the workers' PYTHONPATH."""
    return scoring_venv_build.result()

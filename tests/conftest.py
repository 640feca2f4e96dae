"""Shared test set-up: an isolated Airflow home (SQLite), Spark on loopback with no UI, and helpers.

Airflow reads its configuration when first imported, so the environment is set here, at import time,
before any test module imports airflow.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.dirname(sys.executable)
_BASE = tempfile.mkdtemp(prefix="spark-predict-tests-")
_SPARK_CONF_DIR = os.path.join(_BASE, "spark-conf")
os.makedirs(_SPARK_CONF_DIR, exist_ok=True)
with open(os.path.join(_SPARK_CONF_DIR, "spark-defaults.conf"), "w") as _fh:
    # ports 4040+ collide between parallel jobs; tests never need the UI
    _fh.write("spark.ui.enabled false\nspark.driver.memory 1g\n")

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


@pytest.fixture(scope="session")
def airflow_db() -> str:
    """Migrate the SQLite metadata database once per test session."""
    subprocess.run([os.path.join(BIN, "airflow"), "db", "migrate"], check=True, capture_output=True, timeout=600)
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

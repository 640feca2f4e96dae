"""The embedded default: everything on this machine, under one data folder (not the cwd).

With a ``local[...]`` master the job uses a Hive metastore service on 127.0.0.1 (Derby-backed, started on
first use, shared by concurrent jobs; see :mod:`airflow_provider_spark_predict.metastore`) and a warehouse under
``$SPARK_PREDICT_HOME`` (default ``$AIRFLOW_HOME/spark_predict``, i.e. ``~/airflow/spark_predict``), and
the stores are ``file://`` folders there. On a cluster none of this applies: the cluster's own metastore
and the store URIs you configure are used.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys

from airflow_provider_spark_predict.exceptions import SparkPredictError

MIN_JAVA = 17


def data_home() -> str:
    """The project data folder of the embedded default."""
    home = os.environ.get("SPARK_PREDICT_HOME")
    if not home:
        airflow_home = os.environ.get("AIRFLOW_HOME") or os.path.expanduser("~/airflow")
        home = os.path.join(airflow_home, "spark_predict")
    return os.path.abspath(home)


def default_store_uri() -> str:
    """``file://`` store under the data folder."""
    return "file://" + os.path.join(data_home(), "store")


#: Hive's client (2.3) closes its metastore connection when the session's authorizer set-up changes this
#: hook on the first partition call (HIVE-24404): that call then fails, is retried after 1 s and leaves a
#: "MetaStoreClient lost connection" stack trace in the task log. Set to that same value from the start.
HIVE_FILTER_HOOK = ("spark.hadoop.hive.metastore.filter.hook",
                    "org.apache.hadoop.hive.ql.security.authorization.plugin.AuthorizationMetaStoreFilterHook")


def hive_conf(home: str | None = None) -> dict[str, str]:
    """Spark conf for the embedded Hive metastore service and warehouse under ``home``.

    Starts the metastore service of ``home`` if it is not running (see
    :mod:`airflow_provider_spark_predict.metastore`): many jobs at once share it, as they share a
    production metastore.

    :raises MetastoreError: the service cannot be started or reached (the message names URI, log, reset)
    """
    from airflow_provider_spark_predict import metastore

    home = home or data_home()
    os.makedirs(home, exist_ok=True)
    return {
        "spark.sql.catalogImplementation": "hive",
        "spark.sql.warehouse.dir": metastore.warehouse_dir(home),
        "spark.hadoop.hive.metastore.uris": metastore.ensure_running(home),
        HIVE_FILTER_HOOK[0]: HIVE_FILTER_HOOK[1],
    }


def local_python_env() -> dict[str, str]:
    """Environment for a local spark-submit: this interpreter for driver and workers, loopback only."""
    return {
        "PYSPARK_PYTHON": sys.executable,
        "PYSPARK_DRIVER_PYTHON": sys.executable,
        "SPARK_LOCAL_IP": os.environ.get("SPARK_LOCAL_IP", "127.0.0.1"),
    }


def ensure_spark_submit_on_path() -> None:
    """Put this environment's ``bin/`` (where pip put ``spark-submit``) on PATH if spark-submit is not there."""
    if shutil.which("spark-submit"):
        return
    bindir = os.path.dirname(sys.executable)
    if os.path.exists(os.path.join(bindir, "spark-submit")):
        os.environ["PATH"] = bindir + os.pathsep + os.environ.get("PATH", "")
        return
    raise SparkPredictError(
        "spark-submit is not on PATH; install pyspark in this environment or add Spark's bin/ to PATH"
    )


def check_java() -> str:
    """Fail with a clear message unless Java 17+ is available (Spark needs it). Returns the version."""
    java_home = os.environ.get("JAVA_HOME")
    java = os.path.join(java_home, "bin", "java") if java_home else shutil.which("java")
    if not java or not os.path.exists(java):
        raise SparkPredictError(
            f"Java {MIN_JAVA}+ is needed by Spark but no 'java' was found (JAVA_HOME unset and no java on "
            "PATH). Install OpenJDK 17 (e.g. apt-get install openjdk-17-jre-headless)."
        )
    out = subprocess.run([java, "-version"], capture_output=True, text=True, timeout=60)
    text = out.stderr + out.stdout
    match = re.search(r'version "(\d+)(?:\.(\d+))?', text)
    if not match:
        raise SparkPredictError(f"could not read the Java version from {java}: {text.strip()[:200]}")
    major = int(match.group(1))
    if major == 1 and match.group(2):
        major = int(match.group(2))
    if major < MIN_JAVA:
        raise SparkPredictError(f"Spark needs Java {MIN_JAVA}+ but {java} is Java {major}")
    return str(major)

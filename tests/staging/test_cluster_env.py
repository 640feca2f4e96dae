"""End to end on a REAL Spark standalone cluster (master + 2 workers on 127.0.0.1): a packed venv with
a package the driver's venv does not have is staged to a file:// store and shipped with
spark.archives; executors report their interpreter and import the package.

Submission goes through Airflow's real ``SparkSubmitHook`` (connection from ``AIRFLOW_CONN_SPARK_TEST``).
The job is a plain RDD map, so the packed venv needs no pandas/pyarrow; pyspark itself reaches the
executors' Python through the pyspark.zip that Spark puts on the workers' PYTHONPATH.
"""

from __future__ import annotations

import importlib.util
import json
import os
import sys
import textwrap
from pathlib import Path

import pytest

from airflow_provider_spark_predict.staging import environment_spark_conf, open_store, stage_environment
from tests.staging.helpers import TINY_PACKAGE

APP = textwrap.dedent(
    """
    import json, sys
    from pyspark.sql import SparkSession

    out = sys.argv[1]
    try:
        import {pkg}  # noqa: F401
        driver_has_pkg = True
    except ImportError:
        driver_has_pkg = False

    def probe(i):
        import importlib.metadata, os, sys
        import {pkg}
        return (sys.executable, os.path.realpath(sys.prefix), os.getcwd(),
                os.path.realpath({pkg}.__file__), importlib.metadata.version("{pkg}"),
                "%d.%d" % sys.version_info[:2])

    spark = SparkSession.builder.appName("staging-cluster-test").getOrCreate()
    rows = spark.sparkContext.parallelize(range(8), 4).map(probe).distinct().collect()
    with open(out, "w") as fh:
        json.dump({{"driver_executable": sys.executable, "driver_has_pkg": driver_has_pkg,
                    "executors": rows}}, fh)
    spark.stop()
    """
)


@pytest.mark.cluster
@pytest.mark.timeout(600)
def test_executors_run_the_shipped_environment(cluster_with_all_workers, make_venv, tmp_path, monkeypatch):
    standalone_cluster = cluster_with_all_workers
    assert importlib.util.find_spec(TINY_PACKAGE) is None, (
        f"pick a package the driver venv lacks, not {TINY_PACKAGE}"
    )
    prefix = make_venv("shipped", packages=[TINY_PACKAGE])
    store = open_store(f"file://{tmp_path / 'store'}")
    staged = stage_environment({"kind": "venv", "path": str(prefix)}, store, required_modules=[TINY_PACKAGE])
    assert staged is not None
    conf = environment_spark_conf(staged, master=standalone_cluster.master_url, deploy_mode="client")
    assert conf["spark.pyspark.driver.python"] == sys.executable

    app = tmp_path / "app.py"
    app.write_text(APP.format(pkg=TINY_PACKAGE))
    out = tmp_path / "out.json"
    _, port = standalone_cluster.master_url.rsplit(":", 1)
    monkeypatch.setenv(
        "AIRFLOW_CONN_SPARK_TEST",
        json.dumps({"conn_type": "spark", "host": "spark://127.0.0.1", "port": int(port)}),
    )
    monkeypatch.setenv("SPARK_LOCAL_IP", "127.0.0.1")
    monkeypatch.setenv("PATH", os.path.dirname(sys.executable) + os.pathsep + os.environ["PATH"])
    monkeypatch.delenv("PYSPARK_PYTHON", raising=False)
    monkeypatch.delenv("PYSPARK_DRIVER_PYTHON", raising=False)

    from airflow.providers.apache.spark.hooks.spark_submit import SparkSubmitHook

    hook = SparkSubmitHook(
        conn_id="spark_test",
        conf={
            **conf,
            "spark.ui.enabled": "false",
            "spark.executor.memory": "512m",
            "spark.executor.cores": "1",
            "spark.cores.max": "2",
        },
        application_args=[str(out)],
        name="staging-cluster-test",
    )
    assert hook._connection["master"] == standalone_cluster.master_url
    hook.submit(str(app))

    report = json.loads(out.read_text())
    print("CLUSTER REPORT", json.dumps(report))
    assert report["driver_has_pkg"] is False  # the driver's venv does not have it...
    executors = report["executors"]
    assert executors, "no executor results"
    worker_dirs = [str(Path(d).resolve()) for d in standalone_cluster.worker_dirs]
    for executable, real_prefix, cwd, pkg_file, version, pyver in executors:
        # ...the executors import it from the shipped, unpacked archive under a worker's dir
        assert executable.endswith("environment/bin/python"), executable
        assert any(real_prefix.startswith(d) for d in worker_dirs), (real_prefix, worker_dirs)
        assert any(cwd.startswith(d) for d in worker_dirs), cwd
        assert pkg_file.startswith(real_prefix + "/lib/"), pkg_file
        assert version
        assert pyver == f"{sys.version_info[0]}.{sys.version_info[1]}"

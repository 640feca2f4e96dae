"""environment_spark_conf: the exact conf per master and deploy mode."""

from __future__ import annotations

import sys

import pytest

from airflow_provider_spark_predict.exceptions import StagingError
from airflow_provider_spark_predict.staging import StagedArtifact, environment_spark_conf

URI = "hdfs://nn:8020/stage/environments/venv-0123456789abcdef.tar.gz"
STAGED = StagedArtifact(URI, "0123456789abcdef" * 4, 123, True, 0.1, "venv-0123456789abcdef.tar.gz")
ARCHIVES = f"{URI}#environment"
PY = "./environment/bin/python"


@pytest.mark.parametrize("master", ["local", "local[*]", "local[2]"])
def test_local_needs_nothing(master):
    assert environment_spark_conf(STAGED, master=master) == {}
    assert environment_spark_conf(None, master="yarn") == {}


def test_standalone_client():
    assert environment_spark_conf(
        STAGED, master="spark://10.0.0.1:7077", driver_python="/opt/py/bin/python"
    ) == {
        "spark.archives": ARCHIVES,
        "spark.pyspark.python": PY,
        "spark.pyspark.driver.python": "/opt/py/bin/python",
    }
    # default driver interpreter is the one running this code
    conf = environment_spark_conf(URI, master="spark://10.0.0.1:7077")
    assert conf["spark.pyspark.driver.python"] == sys.executable


def test_standalone_cluster_is_refused():
    with pytest.raises(StagingError, match="cluster deploy mode on a standalone master"):
        environment_spark_conf(STAGED, master="spark://10.0.0.1:7077", deploy_mode="cluster")


def test_k8s():
    master = "k8s://https://k8s.example:6443"
    assert environment_spark_conf(STAGED, master=master, deploy_mode="cluster") == {
        "spark.archives": ARCHIVES,
        "spark.pyspark.python": PY,
    }
    assert environment_spark_conf(STAGED, master=master, driver_python="/d/python") == {
        "spark.archives": ARCHIVES,
        "spark.pyspark.python": PY,
        "spark.pyspark.driver.python": "/d/python",
    }


def test_yarn():
    assert environment_spark_conf(STAGED, master="yarn", driver_python="/d/python") == {
        "spark.archives": ARCHIVES,
        "spark.pyspark.python": PY,
        "spark.pyspark.driver.python": "/d/python",
    }
    assert environment_spark_conf(STAGED, master="yarn", deploy_mode="cluster", env_kind="conda") == {
        "spark.archives": ARCHIVES,
        "spark.pyspark.python": PY,
        "spark.yarn.appMasterEnv.PYSPARK_PYTHON": PY,
    }


def test_alias_in_uri_is_kept():
    conf = environment_spark_conf(f"{URI}#pyenv", master="yarn", deploy_mode="cluster")
    assert conf == {
        "spark.archives": f"{URI}#pyenv",
        "spark.pyspark.python": "./pyenv/bin/python",
        "spark.yarn.appMasterEnv.PYSPARK_PYTHON": "./pyenv/bin/python",
    }


def test_bad_arguments():
    with pytest.raises(StagingError, match="deploy_mode"):
        environment_spark_conf(STAGED, master="yarn", deploy_mode="both")
    with pytest.raises(StagingError, match="Unknown Spark master"):
        environment_spark_conf(STAGED, master="mesos://x:5050")
    with pytest.raises(StagingError, match="env_kind"):
        environment_spark_conf(STAGED, master="yarn", env_kind="docker")

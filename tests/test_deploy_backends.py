"""Each deployment backend's choice of conf, tracking, re-attach and kill.

Real: the Airflow connections (``AIRFLOW_CONN_*`` JSON), the Spark provider's ``SparkSubmitHook`` that each
backend builds, and (local/standalone kill) a real child process killed through the provider's ``on_kill``.
Mocked, because no YARN ResourceManager and no Kubernetes API exist on this machine: the cluster side
only -- ``SparkSubmitHook.submit`` where it would talk to YARN/k8s, the RM status query and polling loop,
the RM REST kill, the k8s pod polling and pod deletion, and ``kube_client`` (the cncf.kubernetes
provider is not installed).
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys

import pytest

from airflow_provider_spark_predict.deploy import (
    KubernetesDeployment,
    LocalDeployment,
    StandaloneDeployment,
    YarnDeployment,
    deployment_for,
    resolve_target,
)
from airflow_provider_spark_predict.deploy.base import EMBEDDED_CONN, Target
from airflow_provider_spark_predict.exceptions import JobError, SparkPredictError

ARCHIVE = "hdfs://nn:8020/envs/venv-0123456789abcdef.tar.gz"
log = logging.getLogger("test_deploy_backends")


@pytest.fixture
def conn(monkeypatch):
    def make(conn_id: str, **fields) -> Target:
        monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps({"conn_type": "spark", **fields}))
        return resolve_target(conn_id, "spark_default", None, log)

    return make


@pytest.fixture
def fake_kube_client(monkeypatch):
    """The cncf.kubernetes provider is not installed; the Spark provider refuses k8s:// without it."""
    from airflow.providers.apache.spark.hooks import spark_submit

    monkeypatch.setattr(spark_submit, "kube_client", object(), raising=False)


@pytest.mark.parametrize(("master", "backend"), [
    ("local", LocalDeployment), ("local[2]", LocalDeployment), ("local-cluster[2,1,1024]", StandaloneDeployment),
    ("spark://h:7077", StandaloneDeployment), ("yarn", YarnDeployment), ("k8s://https://h:6443", KubernetesDeployment),
])
def test_backend_is_chosen_by_master(master, backend):
    assert type(deployment_for(Target("c", master, "client"))) is backend


def test_unknown_master_is_refused():
    with pytest.raises(SparkPredictError, match="unsupported Spark master 'mesos://h:5050'"):
        deployment_for(Target("c", "mesos://h:5050", "client"))


@pytest.mark.parametrize("master", ["local[*]", "spark://h:7077", "local-cluster[2,1,1024]"])
def test_cluster_mode_refused_where_spark_cannot_run_it(master):
    with pytest.raises(SparkPredictError, match="cluster deploy mode"):
        deployment_for(Target("c", master, "cluster"))


def test_resolve_target_reads_master_and_deploy_mode_from_the_connection(conn):
    target = conn("yarn_t", host="yarn", extra={"deploy-mode": "cluster", "queue": "q"})
    assert (target.master, target.deploy_mode, target.embedded) == ("yarn", "cluster", False)
    assert target.extra["queue"] == "q"
    standalone = conn("sa_t", host="spark://10.0.0.1", port=7077)
    assert (standalone.master, standalone.deploy_mode) == ("spark://10.0.0.1:7077", "client")


def test_embedded_default_target(monkeypatch):
    monkeypatch.delenv("AIRFLOW_CONN_SPARK_DEFAULT", raising=False)
    target = resolve_target("spark_default", "spark_default", None, log)
    assert target == Target(EMBEDDED_CONN, "local[*]", "client", None, {}, True)
    assert "AIRFLOW_CONN_SPARK_PREDICT_EMBEDDED" not in __import__("os").environ


def test_bad_deploy_mode_is_refused(conn):
    with pytest.raises(SparkPredictError, match="deploy_mode must be 'client' or 'cluster'"):
        conn("bad_mode", host="yarn", extra={"deploy-mode": "sideways"})


# -- conf -------------------------------------------------------------------------------------------
def test_local_conf_embedded_hive_and_this_interpreter():
    dep = deployment_for(Target("c", "local[2]", "client"))
    conf = dep.conf(None, "venv", {"spark.sql.shuffle.partitions": "4"})
    assert conf["spark.sql.catalogImplementation"] == "hive"
    assert conf["spark.pyspark.python"] == conf["spark.pyspark.driver.python"] == sys.executable
    assert conf["spark.sql.shuffle.partitions"] == "4" and conf["spark.log.level"] == "WARN"
    assert dep.env_vars()["PYSPARK_PYTHON"] == sys.executable


def test_standalone_conf_with_and_without_an_archive():
    dep = deployment_for(Target("c", "spark://h:7077", "client"))
    assert dep.conf(None, "venv", {})["spark.pyspark.python"] == sys.executable
    shipped = dep.conf(ARCHIVE, "archive", {})
    assert shipped["spark.archives"] == f"{ARCHIVE}#environment"
    assert shipped["spark.pyspark.python"] == "./environment/bin/python"
    assert "spark.sql.catalogImplementation" not in shipped
    assert dep.env_vars() is None


def test_yarn_and_k8s_conf_follow_the_deploy_mode():
    yarn_cluster = deployment_for(Target("c", "yarn", "cluster")).conf(ARCHIVE, "archive", {})
    assert yarn_cluster["spark.yarn.appMasterEnv.PYSPARK_PYTHON"] == "./environment/bin/python"
    assert "spark.pyspark.driver.python" not in yarn_cluster
    k8s_client = deployment_for(Target("c", "k8s://https://h", "client")).conf(ARCHIVE, "archive", {})
    assert k8s_client["spark.pyspark.driver.python"] == sys.executable
    user_wins = deployment_for(Target("c", "yarn", "client")).conf(ARCHIVE, "archive",
                                                                   {"spark.pyspark.python": "/opt/py"})
    assert user_wins["spark.pyspark.python"] == "/opt/py"


# -- tracking ---------------------------------------------------------------------------------------
@pytest.mark.parametrize(("master", "mode", "kwargs"), [
    ("yarn", "cluster", {"yarn_track_via_rm_api": True}),
    ("yarn", "client", {}),
    ("k8s://https://h", "cluster", {"track_driver_via_k8s_api": True}),
    ("k8s://https://h", "client", {}),
    ("spark://h:7077", "client", {}),
    ("local[*]", "client", {}),
])
def test_tracking_applies_to_yarn_and_k8s_cluster_mode_only(master, mode, kwargs, caplog):
    with caplog.at_level(logging.WARNING, logger=log.name):
        dep = deployment_for(Target("c", master, mode), track_via_api=True, log=log)
    assert dep.tracking_kwargs() == kwargs
    assert dep.track_via_api == bool(kwargs)
    assert ("track_via_api applies to YARN/Kubernetes cluster mode only" in caplog.text) == (not kwargs)


def test_yarn_tracked_submit_returns_the_application_to_follow(conn, monkeypatch):
    from airflow.providers.apache.spark.hooks.spark_submit import SparkSubmitHook

    def yarn_accepts(self, application="", **kw):  # mocked: spark-submit talking to YARN
        self._yarn_application_id = "application_1_0001"

    followed = []
    monkeypatch.setattr(SparkSubmitHook, "submit", yarn_accepts)
    monkeypatch.setattr(SparkSubmitHook, "_start_yarn_application_status_tracking",
                        lambda self, app_id: followed.append(app_id))  # mocked: RM polling
    target = conn("yarn_sub", host="yarn", extra={"deploy-mode": "cluster"})
    tracked = deployment_for(target, track_via_api=True)
    hook = tracked.submit_hook()
    assert tracked.submit(hook, "app.py") == "application_1_0001"
    tracked.follow(hook, "application_1_0001")
    assert followed == ["application_1_0001"]
    assert tracked.application_id(hook) == "application_1_0001"
    untracked = deployment_for(target)
    assert untracked.submit(untracked.submit_hook(), "app.py") is None  # spark-submit waited for the end


def test_k8s_follow_maps_the_pod_phase(conn, monkeypatch, fake_kube_client):
    from airflow.providers.apache.spark.hooks.spark_submit import SparkSubmitHook

    target = conn("k8s_f", host="k8s://https://h:6443", extra={"deploy-mode": "cluster", "namespace": "ns"})
    dep = deployment_for(target, track_via_api=True)
    hook = dep.submit_hook()
    for phase in ("Succeeded", None):  # mocked: the k8s API poll; None = pod deleted by on_kill
        monkeypatch.setattr(SparkSubmitHook, "_poll_k8s_driver_via_api", lambda self, p=phase: p)
        dep.follow(hook, "driver-1")
    monkeypatch.setattr(SparkSubmitHook, "_poll_k8s_driver_via_api", lambda self: "Failed")
    with pytest.raises(JobError, match="driver pod driver-1 ended in phase Failed"):
        dep.follow(hook, "driver-1")
    # re-attach to a recorded driver pod (through the Kubernetes API): tests/test_trigger_k8s.py


# -- re-attach --------------------------------------------------------------------------------------
def test_yarn_attach_asks_the_resourcemanager(conn, monkeypatch):
    from airflow.providers.apache.spark.hooks.spark_submit import SparkSubmitHook

    target = conn("yarn_att", host="yarn", extra={"deploy-mode": "cluster",
                                                  "yarn_resourcemanager_webapp_address": "http://rm:8088/"})
    dep = deployment_for(target, track_via_api=True)
    monkeypatch.setattr(SparkSubmitHook, "query_yarn_application_status", lambda self, a: "RUNNING")  # mocked RM
    hook, status, active = dep.attach("application_1_0002")
    assert (status, active) == ("RUNNING", True)
    assert hook._yarn_application_id == "application_1_0002" and hook._yarn_track_via_rm_api
    monkeypatch.setattr(SparkSubmitHook, "query_yarn_application_status", lambda self, a: "FAILED")
    assert dep.attach("application_1_0002")[1:] == ("FAILED", False)
    assert deployment_for(target).attach("application_1_0002") is None  # not tracked: submit afresh
    assert dep.tracking_url("application_1_0002") == "http://rm:8088/cluster/app/application_1_0002"
    assert dep.tracking_url(None) is None


@pytest.mark.parametrize("master", ["local[*]", "spark://h:7077"])
def test_local_and_standalone_never_attach_or_link(master):
    dep = deployment_for(Target("c", master, "client"))
    assert dep.attach("app") is None and dep.tracking_url("app") is None and dep.application_id(object()) is None


# -- kill -------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("conn_id", "fields"), [
    ("kill_local", {"host": "local[1]"}),
    ("kill_sa", {"host": "spark://127.0.0.1", "port": 7077}),
])
def test_kill_stops_the_running_spark_submit(conn, conn_id, fields):
    """A real child process stands for spark-submit; the provider's on_kill kills it."""
    dep = deployment_for(conn(conn_id, **fields))
    hook = dep.submit_hook()
    hook._submit_sp = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    try:
        dep.kill(hook)
        assert hook._submit_sp.wait(timeout=30) != 0
    finally:
        if hook._submit_sp.poll() is None:
            hook._submit_sp.kill()


def test_kill_of_a_tracked_yarn_application_goes_through_the_rm(conn, monkeypatch):
    from airflow.providers.apache.spark.hooks.spark_submit import SparkSubmitHook

    killed = []
    monkeypatch.setattr(SparkSubmitHook, "_kill_yarn_application",
                        lambda self, app_id: killed.append(app_id))  # mocked: RM REST PUT state=KILLED
    monkeypatch.setattr(SparkSubmitHook, "query_yarn_application_status", lambda self, a: "RUNNING")
    dep = deployment_for(conn("yarn_kill", host="yarn", extra={"deploy-mode": "cluster"}), track_via_api=True)
    hook, _, _ = dep.attach("application_1_0003")  # a re-attached application: no spark-submit process
    dep.kill(hook)
    assert killed == ["application_1_0003"]


def test_kill_of_a_tracked_k8s_driver_deletes_the_pod(conn, monkeypatch, fake_kube_client):
    from airflow.providers.apache.spark.hooks.spark_submit import SparkSubmitHook

    deleted = []
    monkeypatch.setattr(SparkSubmitHook, "_delete_driver_pod",
                        lambda self: deleted.append(self._kubernetes_driver_pod))  # mocked: k8s API
    target = conn("k8s_kill", host="k8s://https://h:6443", extra={"deploy-mode": "cluster", "namespace": "ns"})
    dep = deployment_for(target, track_via_api=True)
    hook = dep.submit_hook()
    hook._kubernetes_driver_pod = "driver-7"  # what spark-submit's log would have told the provider
    dep.kill(hook)
    assert deleted == ["driver-7"]

"""The exact spark-submit command SparkPredictHook builds for YARN and Kubernetes, and the YARN re-attach.

There is no YARN ResourceManager, no Kubernetes API and no HDFS on this machine. What is real: the
connection (from ``AIRFLOW_CONN_*`` JSON), our hook's staging of the model and the package code into a
``file://`` store, the conf it builds, and the Spark provider's own
``SparkSubmitHook._build_spark_submit_command``. What is faked, and only here:

* Kubernetes: the Spark provider refuses a ``k8s://`` master unless the cncf.kubernetes provider is
  installed (it is not); ``spark_submit.kube_client`` is replaced by a placeholder object. Nothing talks
  to a cluster: we only build the command.
* the environment is a ready ``hdfs://`` archive URI (``{"kind": "archive"}``): used as is, never read.
* YARN re-attach test: ``SparkSubmitHook.submit`` (the YARN acceptance), the RM status query and the RM
  polling loop are replaced by stand-ins, since no ResourceManager exists here.
"""

from __future__ import annotations

import json
import os

import pytest

from airflow_provider_spark_predict.exceptions import JobError, SparkPredictError
from airflow_provider_spark_predict.hooks.predict import JOB_MAIN, SparkPredictHook
from airflow_provider_spark_predict.report import report_folder
from airflow_provider_spark_predict.runs import SUBMITTED_RECORD
from airflow_provider_spark_predict.spec import InputSpec, ModelSpec, ScoringSpec, TargetSpec

ENV_ARCHIVE = "hdfs://nn:8020/envs/score-venv-0123456789abcdef.tar.gz"


@pytest.fixture
def model_file(tmp_path) -> str:
    import joblib
    from sklearn.dummy import DummyClassifier

    path = tmp_path / "model.joblib"
    joblib.dump(DummyClassifier().fit([[0.0], [1.0]], [0, 1]), path)  # a real model: preflight loads it
    return str(path)


def make_spec(model: str) -> ScoringSpec:
    return ScoringSpec(
        input=InputSpec(table="db.users", partition={"dt": "2026-01-01"}),
        model=ModelSpec(uri=model, flavor="sklearn"),
        output=TargetSpec(table="db.scores", partition={"dt": "2026-01-01"}),
        keys=["pin"],
        features=["x"],
    ).validate()


def set_conn(monkeypatch, conn_id: str, **conn) -> None:
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps({"conn_type": "spark", **conn}))


def argv_for(tmp_path, model_file, conn_id: str, **hook_kwargs) -> tuple[list[str], SparkPredictHook, ScoringSpec]:
    hook = SparkPredictHook(conn_id=conn_id, store_uri=f"file://{tmp_path}/store",
                            environment={"kind": "archive", "uri": ENV_ARCHIVE}, **hook_kwargs)
    spec = make_spec(model_file)
    submit_hook = hook.prepare(spec)
    return submit_hook._build_spark_submit_command(JOB_MAIN), hook, spec


def confs(argv: list[str]) -> dict[str, str]:
    out = {}
    for flag, value in zip(argv, argv[1:], strict=False):
        if flag == "--conf":
            key, _, val = value.partition("=")
            out[key] = val
    return out


def flag(argv: list[str], name: str) -> str | None:
    return argv[argv.index(name) + 1] if name in argv else None


def test_yarn_client(tmp_path, model_file, monkeypatch):
    set_conn(monkeypatch, "yarn_client", host="yarn", extra={"queue": "scoring", "deploy-mode": "client"})
    argv, hook, spec = argv_for(tmp_path, model_file, "yarn_client",
                                submit_kwargs={"num_executors": 50, "executor_memory": "4g",
                                               "executor_cores": 2, "driver_memory": "2g"})
    assert argv[0] == "spark-submit"
    assert flag(argv, "--master") == "yarn"
    assert flag(argv, "--deploy-mode") == "client"
    assert flag(argv, "--queue") == "scoring"
    assert flag(argv, "--num-executors") == "50"
    assert flag(argv, "--executor-memory") == "4g"
    assert flag(argv, "--executor-cores") == "2"
    assert flag(argv, "--driver-memory") == "2g"
    conf = confs(argv)
    assert conf["spark.archives"] == f"{ENV_ARCHIVE}#environment"
    assert conf["spark.pyspark.python"] == "./environment/bin/python"
    import sys

    assert conf["spark.pyspark.driver.python"] == sys.executable  # client mode: the driver runs here
    assert "spark.yarn.appMasterEnv.PYSPARK_PYTHON" not in conf
    assert "spark.sql.warehouse.dir" not in conf  # the embedded metastore is for local masters only
    py_files = flag(argv, "--py-files")
    assert py_files.startswith(f"{tmp_path}/store/codes/") and py_files.endswith(".zip")
    assert os.path.exists(py_files)
    assert argv[-3:] == [JOB_MAIN, "--spec", f"file://{tmp_path}/store/runs/{spec.run_id}/spec.json"]
    assert spec.model.uri.startswith(f"file://{tmp_path}/store/models/")  # content-hashed name
    assert "--principal" not in argv and "--keytab" not in argv


def test_yarn_cluster_kerberos_and_tracking(tmp_path, model_file, monkeypatch):
    set_conn(monkeypatch, "yarn_cluster", host="yarn",
             extra={"queue": "root.scoring", "deploy-mode": "cluster",
                    "yarn_resourcemanager_webapp_address": "http://rm.example:8088"})
    keytab = tmp_path / "score.keytab"
    keytab.write_bytes(b"\x05\x02fake")
    argv, hook, spec = argv_for(
        tmp_path, model_file, "yarn_cluster", track_via_api=True,
        submit_kwargs={"principal": "score@EXAMPLE.COM", "keytab": str(keytab), "num_executors": 200,
                       "proxy_user": "analytics"},
    )
    assert flag(argv, "--master") == "yarn"
    assert flag(argv, "--deploy-mode") == "cluster"
    assert flag(argv, "--queue") == "root.scoring"
    assert flag(argv, "--principal") == "score@EXAMPLE.COM"
    assert flag(argv, "--keytab") == str(keytab)
    assert flag(argv, "--proxy-user") == "analytics"
    assert flag(argv, "--num-executors") == "200"
    conf = confs(argv)
    assert conf["spark.archives"] == f"{ENV_ARCHIVE}#environment"
    assert conf["spark.pyspark.python"] == "./environment/bin/python"
    assert conf["spark.yarn.appMasterEnv.PYSPARK_PYTHON"] == "./environment/bin/python"
    assert "spark.pyspark.driver.python" not in conf  # the driver runs in the application master
    # track_via_api: spark-submit returns once YARN accepted the app; the RM REST API is polled
    assert conf["spark.yarn.submit.waitAppCompletion"] == "false"
    assert hook._submit_hook._should_track_yarn_application_via_rm_api()
    assert hook.tracking_url("application_1_0042") == "http://rm.example:8088/cluster/app/application_1_0042"


def test_yarn_principal_from_connection_extra(tmp_path, model_file, monkeypatch):
    import base64

    set_conn(monkeypatch, "yarn_krb", host="yarn",
             extra={"deploy-mode": "cluster", "principal": "svc@EXAMPLE.COM",
                    "keytab": base64.b64encode(b"\x05\x02fake").decode()})
    argv, _, _ = argv_for(tmp_path, model_file, "yarn_krb")
    assert flag(argv, "--principal") == "svc@EXAMPLE.COM"
    with open(flag(argv, "--keytab"), "rb") as fh:  # the provider writes the base64 keytab to a file
        assert fh.read() == b"\x05\x02fake"


@pytest.fixture
def fake_kube_client(monkeypatch):
    """The cncf.kubernetes provider is not installed; the Spark provider refuses k8s:// without it."""
    from airflow.providers.apache.spark.hooks import spark_submit

    monkeypatch.setattr(spark_submit, "kube_client", object(), raising=False)


def test_k8s_cluster(tmp_path, model_file, monkeypatch, fake_kube_client):
    set_conn(monkeypatch, "k8s", host="k8s://https://k8s.example:6443",
             extra={"deploy-mode": "cluster", "namespace": "scoring"})
    argv, hook, _ = argv_for(
        tmp_path, model_file, "k8s", track_via_api=True,
        spark_conf={"spark.kubernetes.container.image": "registry.example/spark-py:4.0.1",
                    "spark.kubernetes.file.upload.path": "s3a://bucket/spark-uploads"},
        submit_kwargs={"num_executors": 20, "executor_memory": "4g"},
    )
    assert flag(argv, "--master") == "k8s://https://k8s.example:6443"
    assert flag(argv, "--deploy-mode") == "cluster"
    assert flag(argv, "--num-executors") == "20"
    conf = confs(argv)
    assert conf["spark.kubernetes.namespace"] == "scoring"
    assert conf["spark.kubernetes.container.image"] == "registry.example/spark-py:4.0.1"
    assert conf["spark.archives"] == f"{ENV_ARCHIVE}#environment"
    assert conf["spark.pyspark.python"] == "./environment/bin/python"
    assert "spark.pyspark.driver.python" not in conf  # the driver pod runs the shipped environment
    # track_via_api: release spark-submit once the driver pod exists, then poll the k8s API
    assert conf["spark.kubernetes.submission.waitAppCompletion"] == "false"
    assert hook._submit_hook._should_track_driver_via_k8s_api()
    assert "--queue" not in argv


def test_track_via_api_ignored_in_client_mode(tmp_path, model_file, monkeypatch):
    set_conn(monkeypatch, "yarn_c2", host="yarn", extra={"deploy-mode": "client"})
    argv, hook, _ = argv_for(tmp_path, model_file, "yarn_c2", track_via_api=True)
    assert "spark.yarn.submit.waitAppCompletion" not in confs(argv)
    assert not hook._submit_hook._should_track_yarn_application_via_rm_api()


def test_standalone_cluster_mode_refused_before_staging(tmp_path, model_file, monkeypatch):
    set_conn(monkeypatch, "standalone", host="spark://127.0.0.1", port=7077)
    hook = SparkPredictHook(conn_id="standalone", store_uri=f"file://{tmp_path}/store", deploy_mode="cluster")
    with pytest.raises(SparkPredictError, match="cluster deploy mode is not possible on the standalone master "
                                                "spark://127.0.0.1:7077"):
        hook.run(make_spec(model_file))
    assert not (tmp_path / "store").exists()  # failed before staging or submitting anything


def test_yarn_retry_reattaches_to_the_running_application(tmp_path, model_file, monkeypatch):
    """Try 1 submits (YARN accepts application_1_0007), records it, then the worker dies while polling.
    Try 2 finds the record, asks the RM (RUNNING), follows it instead of submitting, and returns its report."""
    from airflow.providers.apache.spark.hooks.spark_submit import SparkSubmitHook

    set_conn(monkeypatch, "yarn_rm", host="yarn",
             extra={"deploy-mode": "cluster", "yarn_resourcemanager_webapp_address": "http://rm.example:8088"})
    store = f"file://{tmp_path}/store"
    submits = []

    def fake_submit(self, application="", **kwargs):  # YARN accepted the application
        submits.append(application)
        self._yarn_application_id = "application_1_0007"

    def worker_dies(self, app_id):
        raise RuntimeError("worker lost while polling the ResourceManager")

    monkeypatch.setattr(SparkSubmitHook, "submit", fake_submit)
    monkeypatch.setattr(SparkSubmitHook, "_start_yarn_application_status_tracking", worker_dies)
    first = SparkPredictHook(conn_id="yarn_rm", store_uri=store, track_via_api=True,
                             environment={"kind": "archive", "uri": ENV_ARCHIVE})
    spec1 = make_spec(model_file)
    with pytest.raises(JobError, match="wrote no report"):
        first.run(spec1)
    assert len(submits) == 1
    folder = report_folder(store, spec1.output)
    record = json.loads(first.read_text(f"{folder}/{SUBMITTED_RECORD}"))
    assert record["application_id"] == "application_1_0007" and record["run_id"] == spec1.run_id

    def app_finishes(self, app_id):  # the application ends while we follow it: its report appears
        assert app_id == "application_1_0007"
        first.write_text(record["report_uri"], json.dumps(
            {"status": "succeeded", "run_id": record["run_id"], "published": True, "checks": []}))

    monkeypatch.setattr(SparkSubmitHook, "query_yarn_application_status", lambda self, app_id: "RUNNING")
    monkeypatch.setattr(SparkSubmitHook, "_start_yarn_application_status_tracking", app_finishes)
    second = SparkPredictHook(conn_id="yarn_rm", store_uri=store, track_via_api=True,
                              environment={"kind": "archive", "uri": ENV_ARCHIVE})
    report = second.run(make_spec(model_file))
    assert len(submits) == 1, "the retry submitted again instead of re-attaching"
    assert report["run_id"] == spec1.run_id
    assert report["application_id"] == "application_1_0007"
    assert report["tracking_url"] == "http://rm.example:8088/cluster/app/application_1_0007"

    # a FAILED application without a good report is submitted afresh
    monkeypatch.setattr(SparkSubmitHook, "query_yarn_application_status", lambda self, app_id: "FAILED")
    first.write_text(record["report_uri"], json.dumps({"status": "error", "error": "boom"}))
    third = SparkPredictHook(conn_id="yarn_rm", store_uri=store, track_via_api=True,
                             environment={"kind": "archive", "uri": ENV_ARCHIVE})
    with pytest.raises(JobError):
        third.run(make_spec(model_file))
    assert len(submits) == 2


def test_embedded_default_needs_no_stored_connection_and_leaves_os_environ_alone(tmp_path, model_file,
                                                                                 monkeypatch):
    """No ``spark_default`` connection: the embedded local[*] default is used without writing an
    ``AIRFLOW_CONN_*`` variable (or anything else) into ``os.environ``."""
    monkeypatch.delenv("AIRFLOW_CONN_SPARK_DEFAULT", raising=False)
    before = dict(os.environ)
    hook = SparkPredictHook(store_uri=f"file://{tmp_path}/store")
    spec = make_spec(model_file)
    argv = hook.prepare(spec)._build_spark_submit_command(JOB_MAIN)
    assert dict(os.environ) == before
    assert hook.resolve_deployment().name == "local" and hook.resolve_deployment().target.embedded
    assert flag(argv, "--master") == "local[*]"
    assert "--deploy-mode" not in argv
    conf = confs(argv)
    assert conf["spark.sql.catalogImplementation"] == "hive"  # the embedded metastore
    import sys

    assert conf["spark.pyspark.python"] == sys.executable
    assert "spark.archives" not in conf
    assert hook._submit_hook._env_vars["SPARK_LOCAL_IP"]  # loopback-only spark-submit environment


def test_missing_named_connection_is_an_error(tmp_path):
    hook = SparkPredictHook(conn_id="no_such_spark_conn", store_uri=f"file://{tmp_path}/store")
    with pytest.raises(SparkPredictError, match="'no_such_spark_conn' does not exist"):
        hook.resolve_deployment()


def test_standalone_client_without_environment_runs_this_interpreter(tmp_path, model_file, monkeypatch):
    import sys

    set_conn(monkeypatch, "standalone_c", host="spark://127.0.0.1", port=7077)
    hook = SparkPredictHook(conn_id="standalone_c", store_uri=f"file://{tmp_path}/store")
    argv = hook.prepare(make_spec(model_file))._build_spark_submit_command(JOB_MAIN)
    assert flag(argv, "--master") == "spark://127.0.0.1:7077"
    conf = confs(argv)
    assert conf["spark.pyspark.python"] == sys.executable
    assert conf["spark.pyspark.driver.python"] == sys.executable
    assert "spark.sql.catalogImplementation" not in conf  # the cluster's metastore, not the embedded one
    assert hook.resolve_deployment().name == "standalone"

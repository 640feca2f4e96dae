"""Deferral on Kubernetes: KubernetesDriverPodTrigger against a fake Kubernetes API on 127.0.0.1, and the
operator with ``deferrable=True`` on a ``k8s://`` master through ``dag.test()`` and a real ``airflow triggerer``.

Kubernetes itself cannot run on these machines: the pods API is played by ``tests/helpers/fake_k8s.py``
(same URLs, JSON shape and 404/401/403 answers as ``/api/v1/namespaces/{ns}/pods/{name}``). In the operator
tests only spark-submit is replaced (it "creates" the driver pod in the fake API under the name the hook put
in ``spark.kubernetes.driver.pod.name``), and the cncf.kubernetes provider, which the Spark provider insists
on for ``k8s://`` masters but which is not installed here, is stood in for by a placeholder module attribute:
the deferred path talks to the API over plain HTTP and never uses it.
"""

from __future__ import annotations

import asyncio
import socket

import pytest

from airflow_provider_spark_predict.deploy.kubernetes import DRIVER_POD_CONF, driver_pod_name
from airflow_provider_spark_predict.exceptions import JobError
from airflow_provider_spark_predict.runs import new_run_id
from airflow_provider_spark_predict.triggers.kubernetes import KubernetesDriverPodTrigger
from tests.helpers import deferred
from tests.helpers.fake_k8s import FakeKubernetesApi

NS = "scoring"
POD = "spark-predict-run-1-driver"


def pod_path(pod: str = POD) -> str:
    return f"/api/v1/namespaces/{NS}/pods/{pod}"


@pytest.mark.parametrize(
    ("final", "status", "final_status"),
    [("Succeeded:0", "success", "exit code 0 (Completed)"), ("Failed:1", "failed", "exit code 1 (Error)")],
)
def test_trigger_walks_pending_running_to_the_end(final, status, final_status):
    with FakeKubernetesApi() as api:
        api.add(NS, POD, ["Pending", "Running", "Running", final])
        trigger = KubernetesDriverPodTrigger(POD, api.address, NS, token="t0ken", poll_interval=0.05,
                                             context={"report_uri": "file:///r.json"})
        event = deferred.first_event(trigger)
        gets = [(p, auth) for m, p, auth in api.requests if m == "GET"]
    assert gets == [(pod_path(), "Bearer t0ken")] * 4  # every phase walked, token sent, stopped at the end
    assert event["status"] == status and event["application_id"] == POD
    assert (event["state"], event["final_status"]) == (final.split(":")[0], final_status)
    assert event["kind"] == "driver pod" and event["context"] == {"report_uri": "file:///r.json"}
    if status == "failed":
        assert "fake driver exited with 1" in event["diagnostics"]


def test_pod_gone_ends_the_wait():
    with FakeKubernetesApi() as api:
        api.add(NS, POD, ["Running"])
        trigger = KubernetesDriverPodTrigger(POD, api.address, NS, poll_interval=0.05)

        async def go() -> dict:
            gen = trigger.run()
            task = asyncio.ensure_future(gen.__anext__())
            while not api.calls("GET"):
                await asyncio.sleep(0.01)
            with api.lock:
                api.pods.clear()  # deleted behind the trigger's back (e.g. kubectl delete pod)
            event = await asyncio.wait_for(task, timeout=60)
            await gen.aclose()
            return event.payload

        event = asyncio.run(go())
    assert event["status"] == "gone" and event["application_id"] == POD
    assert f"driver pod {POD} no longer exists in namespace {NS}" in event["diagnostics"]


def test_error_event_when_the_api_cannot_be_reached():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens here once the socket is closed
    trigger = KubernetesDriverPodTrigger(POD, f"http://127.0.0.1:{port}", NS, poll_interval=0.01, max_failures=2,
                                         timeout=2)
    event = deferred.first_event(trigger)
    assert event["status"] == "error"
    assert "after 2 attempts" in event["message"] and f"127.0.0.1:{port}" in event["message"]


def test_token_file_is_read(tmp_path):
    token = tmp_path / "token"
    token.write_text("from-file\n")
    with FakeKubernetesApi() as api:
        api.add(NS, POD, ["Succeeded:0"])
        deferred.first_event(KubernetesDriverPodTrigger(POD, api.address, NS, token_file=str(token), poll_interval=0.01))
        assert [auth for _, _, auth in api.requests] == ["Bearer from-file"]


def test_serialize_round_trip():
    trigger = KubernetesDriverPodTrigger(POD, "https://k8s:6443", NS, token_file="/t", poll_interval=7, verify="/ca.crt",
                                         context={"run_id": "r1"}, status_uri="hdfs://nn/r/x.status",
                                         storage_options={"user": "etl"})
    path, kwargs = trigger.serialize()
    assert path == "airflow_provider_spark_predict.triggers.kubernetes.KubernetesDriverPodTrigger"
    module, _, name = path.rpartition(".")
    again = getattr(__import__(module, fromlist=[name]), name)(**kwargs)
    assert again.serialize() == (path, kwargs)
    assert kwargs["api_server"] == "https://k8s:6443" and kwargs["namespace"] == NS and kwargs["token"] is None
    assert kwargs["status_uri"] == "hdfs://nn/r/x.status" and kwargs["storage_options"] == {"user": "etl"}


def test_on_kill_deletes_the_driver_pod():
    with FakeKubernetesApi() as api:
        api.add(NS, POD, ["Running"])
        asyncio.run(KubernetesDriverPodTrigger(POD, api.address, NS, token="t").on_kill())
        assert api.calls("DELETE") == [pod_path()]
        assert (NS, POD) not in api.pods


@pytest.mark.parametrize("code", [401, 403])
def test_on_kill_reports_a_refused_delete(code):
    with FakeKubernetesApi(delete_status=code) as api:
        api.add(NS, POD, ["Running"])
        with pytest.raises(JobError, match=rf"refused to delete driver pod {POD}: HTTP {code} .*delete refused"):
            asyncio.run(KubernetesDriverPodTrigger(POD, api.address, NS).on_kill())
        assert api.calls("DELETE") == [pod_path()]  # the delete was sent, and its refusal surfaced
        assert (NS, POD) in api.pods


def test_driver_pod_name_is_deterministic_and_valid():
    run_id = new_run_id()
    name = driver_pod_name(run_id)
    assert name == driver_pod_name(run_id) and name.startswith("spark-predict-") and name.endswith("-driver")
    assert len(name) <= 63 and name == name.lower() and all(c.isalnum() or c == "-" for c in name)


# -- the operator with deferrable=True on a k8s:// master (dag.test) -----------------------------------

REPORT = {"status": "succeeded", "published": True, "rows_in": 10, "rows_out": 10,
          "output_partition": {"dt": "2026-01-05"}, "checks": []}


def _k8s_dag_run(tmp_path, monkeypatch, phases, write_report, on_api=None, retries=0):
    """A one-task DAG whose SparkPredictOperator(deferrable=True) submits to 'Kubernetes' cluster mode.

    Kubernetes cannot run here: spark-submit (``SparkSubmitHook.submit``) is replaced by a function that checks
    it was asked for k8s cluster mode with API tracking and a driver pod name from the run id, "creates" that
    pod in the fake API (walking ``phases``) and writes the job's report (when ``write_report``)."""
    from airflow.providers.apache.spark.hooks import spark_submit

    # the Spark provider refuses k8s:// masters without the cncf.kubernetes provider (not installed here)
    monkeypatch.setattr(spark_submit, "kube_client", object(), raising=False)
    api = FakeKubernetesApi().__enter__()
    if on_api is not None:
        on_api(api)
    submitted = []

    def fake_spark_submit(self, application="", **kwargs):
        assert self._connection["master"] == f"k8s://{api.address}" and self._connection["deploy_mode"] == "cluster"
        assert self._track_driver_via_k8s_api and self._connection["namespace"] == NS
        spec = deferred.staged_spec(self)
        assert self._conf[DRIVER_POD_CONF] == driver_pod_name(spec["run_id"])
        api.add(NS, self._conf[DRIVER_POD_CONF], phases)  # the driver pod exists once spark-submit returns
        if write_report:
            deferred.write_report(spec, write_report)
        submitted.append(spec["run_id"])

    conn = {"conn_type": "spark", "host": f"k8s://{api.address}",
            "extra": {"deploy-mode": "cluster", "namespace": NS, "k8s_token": "t0ken"}}
    try:
        dr = deferred.run_deferred_dag(tmp_path, monkeypatch, conn, fake_spark_submit, retries=retries)
    finally:
        api.__exit__(None, None, None)
    return dr, dr.get_task_instance("score"), api, submitted


@pytest.mark.airflow
def test_deferred_k8s_task_resumes_and_succeeds(tmp_path, monkeypatch, airflow_db, caplog):
    dr, ti, api, submitted = _k8s_dag_run(tmp_path, monkeypatch, ["Pending", "Running", "Succeeded:0"], REPORT)
    assert len(submitted) == 1
    pod = driver_pod_name(submitted[0])
    assert [(p, a) for m, p, a in api.requests if m == "GET"] == [(pod_path(pod), "Bearer t0ken")] * 3
    assert ti.state == "success" and dr.state == "success"
    assert "[DAG TEST] running trigger in line" in caplog.text  # it really deferred, then resumed
    result = ti.xcom_pull(task_ids="score")
    assert result["run_id"] == submitted[0] and result["application_id"] == pod


@pytest.mark.airflow
def test_deferred_k8s_task_fails_when_the_driver_failed(tmp_path, monkeypatch, airflow_db, capfd):
    dr, ti, api, submitted = _k8s_dag_run(tmp_path, monkeypatch, ["Pending", "Failed:1"], None)
    out = capfd.readouterr().out
    pod = driver_pod_name(submitted[0])
    assert f"driver pod {pod} ended Failed/exit code 1 (Error)" in out
    assert "wrote no report" in out
    assert ti.state == "failed" and dr.state == "failed"
    assert api.calls("GET") == [pod_path(pod)] * 2


@pytest.mark.airflow
def test_real_triggerer_fires_and_deletes_the_pod(tmp_path, monkeypatch, airflow_db):
    """The trigger runs in a real ``airflow triggerer`` process; second run: the task is marked failed while
    deferred and the triggerer's ``on_kill`` deletes the driver pod through the (fake) Kubernetes API."""
    seen: dict = {}
    deferred.via_real_triggerer(monkeypatch, seen)
    with deferred.RealTriggerer() as triggerer:
        seen["t"], seen["mode"] = triggerer, "fire"
        dr, ti, api, submitted = _k8s_dag_run(tmp_path / "a", monkeypatch, ["Pending", "Running", "Succeeded:0"],
                                              REPORT)
        assert ti.state == "success", triggerer.output()[-3000:]
        assert api.calls("GET") == [pod_path(driver_pod_name(submitted[0]))] * 3

        seen["mode"] = "kill"

        def on_api(a):
            seen["polled"] = lambda: bool(a.calls("GET"))
            seen["kills"] = lambda: a.calls("DELETE")

        dr, ti, api, submitted = _k8s_dag_run(tmp_path / "b", monkeypatch, ["Pending", "Running"], None, on_api=on_api)
        pod = driver_pod_name(submitted[0])
        assert api.calls("DELETE") == [pod_path(pod)]
        assert (NS, pod) not in api.pods
        assert ti.state == "failed"


def test_attach_asks_the_api_for_the_recorded_driver_pod(monkeypatch):
    """A retry re-attaches to a recorded driver pod while it is Pending/Running, and submits again once it
    is gone (the hook then reads its report, if any)."""
    import json
    import logging

    from airflow.providers.apache.spark.hooks import spark_submit

    from airflow_provider_spark_predict.deploy import deployment_for, resolve_target

    monkeypatch.setattr(spark_submit, "kube_client", object(), raising=False)  # cncf.kubernetes not installed
    with FakeKubernetesApi() as api:
        monkeypatch.setenv("AIRFLOW_CONN_K8S_ATTACH", json.dumps({
            "conn_type": "spark", "host": f"k8s://{api.address}",
            "extra": {"deploy-mode": "cluster", "namespace": NS, "k8s_token": "t0ken"}}))
        dep = deployment_for(resolve_target("k8s_attach", "spark_default", None, logging.getLogger("t")),
                             track_via_api=True)
        api.add(NS, POD, ["Running"])
        hook, phase, active = dep.attach(POD)
        assert (phase, active) == ("Running", True)
        assert hook._kubernetes_driver_pod == POD  # the provider's on_kill deletes this pod
        with api.lock:
            api.pods.clear()
        assert dep.attach(POD)[1:] == ("gone", False)
        assert [a for _, _, a in api.requests] == ["Bearer t0ken"] * 2
        assert dep.run_conf("r-1") == {DRIVER_POD_CONF: driver_pod_name("r-1")}


@pytest.mark.parametrize(("extra", "message"), [
    ({"deploy-mode": "client", "namespace": NS}, r"needs YARN or Kubernetes cluster mode; the connection gives "
                                                 r"k8s://https://k8s.example:6443 \(client mode\)"),
    ({"deploy-mode": "cluster"}, r"needs the extra 'namespace'"),
    ({"deploy-mode": "cluster", "namespace": NS, "k8s_api_server": "k8s.example:6443"}, r"k8s_api_server"),
])
def test_deferrable_is_refused_before_staging_without_what_the_trigger_needs(monkeypatch, extra, message):
    import json

    from airflow.providers.apache.spark.hooks import spark_submit

    from airflow_provider_spark_predict.exceptions import SpecError
    from airflow_provider_spark_predict.hooks.predict import SparkPredictHook

    monkeypatch.setattr(spark_submit, "kube_client", object(), raising=False)  # cncf.kubernetes not installed
    monkeypatch.setenv("AIRFLOW_CONN_K8S_DEFER", json.dumps({"conn_type": "spark",
                                                             "host": "k8s://https://k8s.example:6443", "extra": extra}))
    with pytest.raises(SpecError, match=message):
        SparkPredictHook(conn_id="k8s_defer").detached_deployment()


def test_api_access_defaults_from_the_master(monkeypatch):
    import json
    import logging

    from airflow.providers.apache.spark.hooks import spark_submit

    from airflow_provider_spark_predict.deploy import deployment_for, resolve_target

    monkeypatch.setattr(spark_submit, "kube_client", object(), raising=False)
    monkeypatch.setenv("AIRFLOW_CONN_K8S_ACCESS", json.dumps({
        "conn_type": "spark", "host": "k8s://https://k8s.example:6443",
        "extra": {"deploy-mode": "cluster", "namespace": NS, "k8s_ca_cert": "/etc/k8s-ca.crt"}}))
    dep = deployment_for(resolve_target("k8s_access", "spark_default", None, logging.getLogger("t")),
                         track_via_api=True)
    access = dep.api_access()
    assert access["api_server"] == "https://k8s.example:6443" and access["namespace"] == NS
    assert access["verify"] == "/etc/k8s-ca.crt" and access["token"] is None
    trigger = dep.trigger(POD, poll_interval=5, context={"run_id": "r"})
    assert isinstance(trigger, KubernetesDriverPodTrigger) and trigger.url == f"https://k8s.example:6443{pod_path()}"


def test_resume_after_the_driver_pod_is_gone_reads_its_report_if_any(tmp_path):
    """A driver pod deleted before the trigger saw it end: its report decides; without one the task fails
    saying so (``operators.deferral.resume_report``, the store is a real ``file://`` folder)."""
    import json

    from airflow_provider_spark_predict.hooks.predict import SparkPredictHook
    from airflow_provider_spark_predict.operators.deferral import resume_report
    from airflow_provider_spark_predict.spec import InputSpec, ModelSpec, ScoringSpec, TargetSpec

    def spec():
        return ScoringSpec(input=InputSpec(path="file:///in", partition={"dt": "2026-01-05"}),
                           model=ModelSpec(uri="file:///m.json"),
                           output=TargetSpec(path="file:///out", partition={"dt": "2026-01-05"}), keys=["pin"])

    report_uri = f"file://{tmp_path}/store/reports/r-1.json"
    event = {"status": "gone", "application_id": POD, "state": "gone", "final_status": "gone", "kind": "driver pod",
             "diagnostics": f"driver pod {POD} no longer exists in namespace {NS}",
             "context": {"run_id": "r-1", "report_uri": report_uri}}
    hook = SparkPredictHook(conn_id="spark_default", store_uri=f"file://{tmp_path}/store")
    with pytest.raises(JobError, match=rf"no longer exists in namespace {NS}; the run wrote no report to "):
        resume_report(hook, spec(), event)
    (tmp_path / "store" / "reports").mkdir(parents=True)
    (tmp_path / "store" / "reports" / "r-1.json").write_text(json.dumps({**REPORT, "run_id": "r-1"}))
    report = resume_report(hook, spec(), event)
    assert report["status"] == "succeeded" and report["run_id"] == "r-1" and report["application_id"] == POD

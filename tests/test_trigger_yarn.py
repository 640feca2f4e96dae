"""YarnApplicationTrigger against a fake YARN ResourceManager HTTP server on 127.0.0.1.

YARN itself cannot run on these machines: the ResourceManager REST API is played by
``tests/helpers/fake_rm.py`` (same URLs and JSON shape as YARN's ``/ws/v1/cluster/apps/{id}``), and only
spark-submit is replaced in the operator tests (``tests/helpers/deferred.py``).
"""

from __future__ import annotations

import asyncio
import json
import re
import socket
import time
import types

import pytest

from airflow_provider_spark_predict.exceptions import JobError
from airflow_provider_spark_predict.triggers.yarn import YarnApplicationTrigger
from tests.helpers import deferred
from tests.helpers.fake_rm import FakeResourceManager


@pytest.mark.parametrize(
    ("final", "status"),
    [("FINISHED:SUCCEEDED", "success"), ("FINISHED:FAILED", "failed"), ("FAILED:FAILED", "failed"),
     ("KILLED:KILLED", "failed")],
)
def test_trigger_fires_once_the_application_ends(final, status):
    app = "application_1700000000000_0001"
    with FakeResourceManager() as rm:
        rm.add(app, ["ACCEPTED", "RUNNING", "RUNNING", final])
        trigger = YarnApplicationTrigger(app, rm.address, poll_interval=0.05, context={"report_uri": "file:///r.json"})
        event = deferred.first_event(trigger)
        polls = [p for m, p, _ in rm.requests if m == "GET"]
    state, final_status = final.split(":")
    assert event["status"] == status
    assert event["application_id"] == app
    assert (event["state"], event["final_status"]) == (state, final_status)
    assert event["context"] == {"report_uri": "file:///r.json"}
    assert polls == [f"/ws/v1/cluster/apps/{app}"] * 4  # walked every state, stopped at the final one


def test_error_event_when_the_rm_cannot_be_reached():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens here once the socket is closed
    trigger = YarnApplicationTrigger("application_1_0002", f"http://127.0.0.1:{port}", poll_interval=0.01,
                                     max_failures=3, timeout=2)
    event = deferred.first_event(trigger)
    assert event["status"] == "error"
    assert "after 3 attempts" in event["message"] and f"127.0.0.1:{port}" in event["message"]


def test_error_event_when_the_rm_does_not_know_the_application():
    with FakeResourceManager() as rm:
        trigger = YarnApplicationTrigger("application_1_0404", rm.address, poll_interval=0.01, max_failures=2)
        event = deferred.first_event(trigger)
    assert event["status"] == "error" and "404" in event["message"]


def test_serialize_round_trip():
    trigger = YarnApplicationTrigger("application_1_0003", "http://rm:8088", poll_interval=7, max_failures=4,
                                     timeout=9, verify="/etc/ca.pem", context={"run_id": "r1"})
    path, kwargs = trigger.serialize()
    assert path == "airflow_provider_spark_predict.triggers.yarn.YarnApplicationTrigger"
    module, _, name = path.rpartition(".")
    cls = getattr(__import__(module, fromlist=[name]), name)
    again = cls(**kwargs)
    assert again.serialize() == (path, kwargs)
    assert kwargs == {"application_id": "application_1_0003", "rm_address": "http://rm:8088", "poll_interval": 7,
                      "max_failures": 4, "timeout": 9, "verify": "/etc/ca.pem", "context": {"run_id": "r1"},
                      "status_uri": None, "storage_options": {}}


def test_on_kill_sends_the_kill_to_the_rm():
    app = "application_1_0005"
    with FakeResourceManager() as rm:
        rm.add(app, ["RUNNING"])
        asyncio.run(YarnApplicationTrigger(app, rm.address).on_kill())
        assert rm.kills() == [app]
        assert rm.step(app) == ("KILLED", "KILLED")


def test_on_kill_reports_a_refused_kill():
    app = "application_1_0006"
    with FakeResourceManager(kill_status=401) as rm:
        rm.add(app, ["RUNNING"])
        with pytest.raises(JobError, match=r"refused to kill application_1_0006: HTTP 401 .*Unauthorized"):
            asyncio.run(YarnApplicationTrigger(app, rm.address).on_kill())
        assert rm.kills() == [app]  # the kill was sent, and its refusal surfaced


def status_lines(text: str) -> list[str]:
    """The driver status lines a trigger logged (the triggerer's log format: ``... driver status: <line> [logger]``)."""
    return re.findall(r"driver status: 2026-01-05T00:00:00Z (.+?)(?=\s+\[|\s*$)", text, flags=re.M)


def test_trigger_logs_each_new_status_line_of_the_driver(tmp_path, capfd):
    """Cluster mode: the driver's stdout stays on the cluster; the trigger logs the run's status file (the
    driver's latest line) each time it changed while it polls. Here the fake RM rewrites that file before
    answering each poll, like a driver writing progress meanwhile."""
    app = "application_1_0007"
    status = tmp_path / "reports" / "run-7.status"
    status.parent.mkdir(parents=True)
    written = iter(["phase footer job", "phase scoring (footer job took 1s)", "phase scoring (footer job took 1s)",
                    "progress scoring: 50 %, tasks 2/4", "progress scoring: 100 %, tasks 4/4", "phases done"])

    def driver_writes(_app_id):
        line = next(written, None)
        if line is not None:
            status.write_text(f"2026-01-05T00:00:00Z {line}\n")  # overwritten, as the job does

    with FakeResourceManager(on_get=driver_writes) as rm:
        rm.add(app, ["ACCEPTED", "RUNNING", "RUNNING", "RUNNING", "RUNNING", "FINISHED:SUCCEEDED"])
        trigger = YarnApplicationTrigger(app, rm.address, poll_interval=0.01, status_uri=f"file://{status}")
        event = deferred.first_event(trigger)
    assert event["status"] == "success"
    assert status_lines(capfd.readouterr().out) == ["phase footer job", "phase scoring (footer job took 1s)", "progress scoring: 50 %, tasks 2/4",
                      "progress scoring: 100 %, tasks 4/4", "phases done"]  # each line once, in order


def test_trigger_without_a_status_file_yet_logs_no_status(tmp_path, capfd):
    app = "application_1_0008"
    with FakeResourceManager() as rm:
        rm.add(app, ["RUNNING", "FINISHED:SUCCEEDED"])
        trigger = YarnApplicationTrigger(app, rm.address, poll_interval=0.01,
                                         status_uri=f"file://{tmp_path}/missing/run.status")
        assert deferred.first_event(trigger)["status"] == "success"
    out = capfd.readouterr().out
    assert "YARN application application_1_0008: RUNNING" in out  # the trigger's lines are in this output
    assert "driver status" not in out


# -- the operator with deferrable=True, through Airflow's own deferral (dag.test) ----------------------

APP = "application_1700000000000_0042"
APP_PATH = f"/ws/v1/cluster/apps/{APP}"


def _deferred_dag_run(tmp_path, monkeypatch, app_states, write_report, on_rm=None, retries=0):
    """Run a one-task DAG whose SparkPredictOperator(deferrable=True) submits to 'YARN'.

    YARN cannot run here: only spark-submit itself (``SparkSubmitHook.submit``) is replaced by a function that
    checks it was asked for YARN cluster mode, "accepts" the application under an id scripted in the fake
    ResourceManager and writes the job's run report (when ``write_report``) where the staged spec says. The
    rest is real (``tests/helpers/deferred.py``).
    """
    rm = FakeResourceManager().__enter__()
    rm.add(APP, app_states)
    if on_rm is not None:
        on_rm(rm)
    submitted = []

    def fake_spark_submit(self, application="", **kwargs):
        assert (self._connection["master"], self._connection["deploy_mode"]) == ("yarn", "cluster")
        assert self._yarn_track_via_rm_api  # spark-submit returns once YARN accepted the application
        spec = deferred.staged_spec(self)
        if write_report:
            deferred.write_report(spec, write_report)
        self._yarn_application_id = APP
        submitted.append(spec["run_id"])

    conn = {"conn_type": "spark", "host": "yarn",
            "extra": {"deploy-mode": "cluster", "yarn_resourcemanager_webapp_address": rm.address}}
    try:
        dr = deferred.run_deferred_dag(tmp_path, monkeypatch, conn, fake_spark_submit, retries=retries)
    finally:
        rm.__exit__(None, None, None)
    return dr, dr.get_task_instance("score"), rm, submitted


REPORT = {"status": "succeeded", "published": True, "run_id": "run-deferred", "rows_in": 10, "rows_out": 10,
          "output_partition": {"dt": "2026-01-05"}, "checks": [
              {"name": "row_parity", "status": "passed", "value": 0.0, "threshold": 0.0, "policy": "fail",
               "message": "row_parity: ok"}]}


@pytest.mark.airflow
def test_deferred_task_resumes_and_succeeds_when_the_application_finished(tmp_path, monkeypatch, airflow_db, caplog):
    dr, ti, rm, submitted = _deferred_dag_run(tmp_path, monkeypatch,
                                              ["ACCEPTED", "RUNNING", "FINISHED:SUCCEEDED"], REPORT)
    assert len(submitted) == 1
    assert [p for m, p, _ in rm.requests if m == "GET"] == [APP_PATH] * 3
    assert ti.state == "success" and dr.state == "success"
    assert "[DAG TEST] running trigger in line" in caplog.text  # it really deferred, then resumed
    assert ti.xcom_pull(task_ids="score")["run_id"] == submitted[0]


@pytest.mark.airflow
def test_deferred_task_fails_when_the_application_failed(tmp_path, monkeypatch, airflow_db, caplog, capfd):
    dr, ti, rm, _ = _deferred_dag_run(tmp_path, monkeypatch, ["ACCEPTED", "FAILED:FAILED"], None)
    out = capfd.readouterr().out
    assert f"YARN application {APP} ended FAILED/FAILED" in out
    assert ti.state == "failed" and dr.state == "failed"
    assert "[DAG TEST] running trigger in line" in caplog.text
    assert [p for m, p, _ in rm.requests if m == "GET"] == [APP_PATH] * 2


@pytest.mark.airflow
def test_retry_of_a_deferred_task_reattaches_instead_of_submitting_again(tmp_path, monkeypatch, airflow_db, capfd):
    """Try 1 submits and defers; the RM then answers HTTP 503 five times in a row, so the trigger gives up
    (error event) and the try fails. Try 2 (``retries=1``) finds the recorded application still RUNNING and
    defers on it again: one spark-submit in all, and the task succeeds with the report of that application."""
    states = ["ACCEPTED"] + ["503"] * 5 + ["RUNNING", "RUNNING", "FINISHED:SUCCEEDED"]
    dr, ti, rm, submitted = _deferred_dag_run(tmp_path, monkeypatch, states, REPORT, retries=1)
    assert len(submitted) == 1, submitted  # the retry did not submit again
    assert ti.state == "success" and dr.state == "success"
    assert ti.try_number == 2
    out = capfd.readouterr().out
    assert "could not report YARN application" in out and "after 5 attempts" in out  # try 1 failed so
    assert f"re-attaching to application {APP} of run {submitted[0]} (RUNNING)" in out
    assert ti.xcom_pull(task_ids="score")["run_id"] == submitted[0]
    # try 1: ACCEPTED + 5 failed polls; try 2: the hook's status query, then RUNNING and FINISHED
    assert [p for m, p, _ in rm.requests if m == "GET"] == [APP_PATH] * 9


@pytest.mark.airflow
def test_api_tracking_loop_logs_the_driver_status_lines(tmp_path, monkeypatch, airflow_db, caplog, capfd):
    """Not deferred, ``track_via_api=True``: while the provider's RM polling loop waits (inside the task), the
    hook logs each new line of the run's status file. spark-submit is replaced (YARN is not run here): it
    writes the report and a first status line; the fake RM rewrites the line before it reports FINISHED."""
    from airflow.providers.apache.spark.hooks.spark_submit import SparkSubmitHook

    from airflow_provider_spark_predict.hooks import predict as hook_module
    from airflow_provider_spark_predict.run.layout import status_uri
    from airflow_provider_spark_predict.spec import InputSpec, ModelSpec, ScoringSpec, TargetSpec

    monkeypatch.setattr(hook_module, "STATUS_POLL_S", 0.05)
    # the provider's RM loop sleeps at least 10 s between polls (hard-coded): 0.2 s here, for this module only
    from airflow.providers.apache.spark.hooks import spark_submit as provider_module

    fast_time = types.SimpleNamespace(**{n: getattr(time, n) for n in dir(time) if not n.startswith("_")})
    fast_time.sleep = lambda seconds: time.sleep(min(seconds, 0.2))
    monkeypatch.setattr(provider_module, "time", fast_time)
    files: dict = {}

    def driver_writes(_app_id):
        if len([m for m, _, _ in rm.requests if m == "GET"]) == 2:  # the poll that will see FINISHED
            files["status"].write_text("2026-01-05T00:00:00Z phases done (publish took 1s)\n")

    def fake_spark_submit(self, application="", **kwargs):
        assert self._yarn_track_via_rm_api
        spec = deferred.staged_spec(self)
        deferred.write_report(spec, REPORT)
        files["status"] = deferred.local(status_uri(spec["report_uri"]))
        files["status"].write_text("2026-01-05T00:00:00Z phase scoring (footer job took 1s)\n")
        self._yarn_application_id = APP

    monkeypatch.setattr(SparkSubmitHook, "submit", fake_spark_submit)
    with FakeResourceManager(on_get=driver_writes) as rm:
        rm.add(APP, ["RUNNING", "FINISHED:SUCCEEDED"])
        monkeypatch.setenv("AIRFLOW_CONN_SPARK_TRACKED", json.dumps({
            "conn_type": "spark", "host": "yarn",
            "extra": {"deploy-mode": "cluster", "yarn_resourcemanager_webapp_address": rm.address}}))
        spec = ScoringSpec(input=InputSpec(path=f"file://{tmp_path}/in", partition={"dt": "2026-01-05"}),
                           model=ModelSpec(uri=deferred.model(tmp_path)),
                           output=TargetSpec(path=f"file://{tmp_path}/out", partition={"dt": "2026-01-05"}),
                           keys=["pin"], features=["a", "b", "c"]).validate()
        hook = hook_module.SparkPredictHook(conn_id="spark_tracked", track_via_api=True,
                                            store_uri=f"file://{tmp_path}/store")
        with caplog.at_level("INFO"):
            report = hook.run(spec)
    assert report["status"] == "succeeded" and report["application_id"] == APP
    text = caplog.text or capfd.readouterr().out  # the hook's log: caplog, or Airflow's stdout logging
    assert status_lines(text) == ["phase scoring (footer job took 1s)", "phases done (publish took 1s)"], text[-3000:]


# -- a real `airflow triggerer` process ----------------------------------------------------------------


@pytest.mark.airflow
def test_real_triggerer_fires_and_kills(tmp_path, monkeypatch, airflow_db, capfd):
    """The deferred task's trigger runs in a real ``airflow triggerer`` process (not in line).

    ``dag.test()`` normally runs the trigger itself; here its in-line runner hands the task to the real
    triggerer (``tests/helpers/deferred.via_real_triggerer``). Second run: the application never ends, the
    task is marked failed while deferred (a user action), and the triggerer's ``on_kill`` must send the kill.
    YARN itself is not run: the RM is ``tests/helpers/fake_rm.py``.
    """
    seen: dict = {}
    deferred.via_real_triggerer(monkeypatch, seen)
    report = {**REPORT, "checks": []}
    with deferred.RealTriggerer() as triggerer:
        seen["t"], seen["mode"] = triggerer, "fire"
        dr, ti, rm, _ = _deferred_dag_run(tmp_path / "a", monkeypatch, ["ACCEPTED", "RUNNING", "FINISHED:SUCCEEDED"],
                                          report)
        assert ti.state == "success", triggerer.output()[-3000:]
        assert [p for m, p, _ in rm.requests if m == "GET"] == [APP_PATH] * 3

        seen["mode"] = "kill"

        def on_rm(r):
            seen["polled"] = lambda: any(m == "GET" for m, _, _ in r.requests)
            seen["kills"] = r.kills

        dr, ti, rm, _ = _deferred_dag_run(tmp_path / "b", monkeypatch, ["ACCEPTED", "RUNNING"], None, on_rm=on_rm)
        assert rm.kills() == [APP]
        assert ti.state == "failed"

"""YarnApplicationTrigger against a fake YARN ResourceManager HTTP server on 127.0.0.1.

YARN itself cannot run on these machines: the ResourceManager REST API is played by
``tests/helpers/fake_rm.py`` (same URLs and JSON shape as YARN's ``/ws/v1/cluster/apps/{id}``).
"""

from __future__ import annotations

import asyncio
import json
import socket

import pytest

from airflow_provider_spark_predict.exceptions import JobError
from airflow_provider_spark_predict.triggers.yarn import YarnApplicationTrigger
from tests.helpers.fake_rm import FakeResourceManager


def first_event(trigger: YarnApplicationTrigger) -> dict:
    async def go() -> dict:
        gen = trigger.run()
        event = await asyncio.wait_for(gen.__anext__(), timeout=60)
        await gen.aclose()
        return event.payload

    return asyncio.run(go())


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
        event = first_event(trigger)
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
    event = first_event(trigger)
    assert event["status"] == "error"
    assert "after 3 attempts" in event["message"] and f"127.0.0.1:{port}" in event["message"]


def test_error_event_when_the_rm_does_not_know_the_application():
    with FakeResourceManager() as rm:
        trigger = YarnApplicationTrigger("application_1_0404", rm.address, poll_interval=0.01, max_failures=2)
        event = first_event(trigger)
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


# -- the operator with deferrable=True, through Airflow's own deferral (dag.test) ----------------------


def _model(tmp_path) -> str:
    import numpy as np
    import xgboost as xgb

    rng = np.random.default_rng(1)
    x = rng.normal(size=(200, 3)).astype(np.float32)
    booster = xgb.train({"objective": "binary:logistic", "max_depth": 2}, xgb.DMatrix(
        x, label=(x[:, 0] > 0).astype(int), feature_names=["a", "b", "c"]), num_boost_round=3)
    path = str(tmp_path / "model.json")
    booster.save_model(path)
    return path


DEFERRED_DAG = '''
import os
from datetime import datetime

from airflow.sdk import DAG

from airflow_provider_spark_predict.operators.predict import SparkPredictOperator

ROOT = os.environ["DEFERRED_TEST_ROOT"]
with DAG("deferred_scoring", schedule=None, start_date=datetime(2026, 1, 1)) as dag:
    SparkPredictOperator(task_id="score", model=os.environ["DEFERRED_TEST_MODEL"], input_path=f"file://{ROOT}/in",
                         keys=["pin"], features=["a", "b", "c"], output_path=f"file://{ROOT}/out",
                         conn_id="spark_yarn", deferrable=True, poll_interval=0.05)
'''


def _local(uri: str):
    import pathlib

    assert uri.startswith("file://"), uri
    return pathlib.Path(uri.removeprefix("file://"))


def load_dag_file(path: str):
    import importlib.util

    spec = importlib.util.spec_from_file_location("deferred_scoring_dag", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.dag


def _deferred_dag_run(tmp_path, monkeypatch, app_states, write_report, on_rm=None):
    """Run a one-task DAG whose SparkPredictOperator(deferrable=True) submits to 'YARN'.

    YARN cannot run here: only spark-submit itself (``SparkSubmitHook.submit``) is replaced by a function that
    checks it was asked for YARN cluster mode, "accepts" the application under an id scripted in the fake
    ResourceManager and writes the job's run report (when ``write_report``) where the staged spec says. The
    rest is real: the hook stages, writes the spec and records the submission, the operator defers, Airflow
    serializes the trigger, runs it against the fake RM over HTTP, and resumes the task with
    ``execute_complete``.
    """
    from datetime import UTC, datetime

    from airflow.providers.apache.spark.hooks.spark_submit import SparkSubmitHook

    app = "application_1700000000000_0042"
    tmp_path.mkdir(parents=True, exist_ok=True)
    rm = FakeResourceManager().__enter__()
    rm.add(app, app_states)
    if on_rm is not None:
        on_rm(rm)
    monkeypatch.setenv("AIRFLOW_CONN_SPARK_YARN", json.dumps({
        "conn_type": "spark", "host": "yarn",
        "extra": {"deploy-mode": "cluster", "yarn_resourcemanager_webapp_address": rm.address}}))
    submitted = []

    def fake_spark_submit(self, application="", **kwargs):
        assert (self._connection["master"], self._connection["deploy_mode"]) == ("yarn", "cluster")
        assert self._yarn_track_via_rm_api  # spark-submit returns once YARN accepted the application
        args = list(self._application_args)
        spec = json.loads(_local(args[args.index("--spec") + 1]).read_text())
        if write_report:
            _local(spec["report_uri"]).parent.mkdir(parents=True, exist_ok=True)
            _local(spec["report_uri"]).write_text(json.dumps({**write_report, "run_id": spec["run_id"]}))
        self._yarn_application_id = app
        submitted.append(spec["run_id"])

    monkeypatch.setattr(SparkSubmitHook, "submit", fake_spark_submit)
    # dag.test() needs the DAG file in the dags folder: a one-file folder for this test
    dags = tmp_path / "dags"
    dags.mkdir()
    (dags / "deferred_scoring.py").write_text(DEFERRED_DAG)
    monkeypatch.setenv("AIRFLOW__CORE__DAGS_FOLDER", str(dags))
    monkeypatch.setenv("AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_CONFIG_LIST", json.dumps([{
        "name": "dags-folder", "classpath": "airflow.dag_processing.bundles.local.LocalDagBundle",
        "kwargs": {"path": str(dags)}}]))
    monkeypatch.setenv("DEFERRED_TEST_MODEL", _model(tmp_path))
    monkeypatch.setenv("DEFERRED_TEST_ROOT", str(tmp_path))
    dag = load_dag_file(str(dags / "deferred_scoring.py"))
    try:
        dr = dag.test(logical_date=datetime(2026, 1, 5, tzinfo=UTC))
    finally:
        rm.__exit__(None, None, None)
    ti = dr.get_task_instance("score")
    return dr, ti, rm, submitted


@pytest.mark.airflow
def test_deferred_task_resumes_and_succeeds_when_the_application_finished(tmp_path, monkeypatch, airflow_db, caplog):
    report = {"status": "succeeded", "published": True, "run_id": "run-deferred", "rows_in": 10, "rows_out": 10,
              "output_partition": {"dt": "2026-01-05"}, "checks": [
                  {"name": "row_parity", "status": "passed", "value": 0.0, "threshold": 0.0, "policy": "fail",
                   "message": "row_parity: ok"}]}
    dr, ti, rm, submitted = _deferred_dag_run(tmp_path, monkeypatch,
                                              ["ACCEPTED", "RUNNING", "FINISHED:SUCCEEDED"], report)
    assert len(submitted) == 1
    assert [p for m, p, _ in rm.requests if m == "GET"] == ["/ws/v1/cluster/apps/application_1700000000000_0042"] * 3
    assert ti.state == "success" and dr.state == "success"
    assert "[DAG TEST] running trigger in line" in caplog.text  # it really deferred, then resumed
    assert ti.xcom_pull(task_ids="score")["run_id"] == submitted[0]


@pytest.mark.airflow
def test_deferred_task_fails_when_the_application_failed(tmp_path, monkeypatch, airflow_db, caplog, capfd):
    dr, ti, rm, _ = _deferred_dag_run(tmp_path, monkeypatch, ["ACCEPTED", "FAILED:FAILED"], None)
    out = capfd.readouterr().out
    assert "YARN application application_1700000000000_0042 ended FAILED/FAILED" in out
    assert ti.state == "failed" and dr.state == "failed"
    assert "[DAG TEST] running trigger in line" in caplog.text
    assert [p for m, p, _ in rm.requests if m == "GET"] == ["/ws/v1/cluster/apps/application_1700000000000_0042"] * 2


# -- a real `airflow triggerer` process ----------------------------------------------------------------


class RealTriggerer:
    """``airflow triggerer`` in a subprocess on the tests' Airflow DB (SQLite), stopped by its pid."""

    def __enter__(self) -> RealTriggerer:
        import os
        import subprocess
        import sys

        self.log = open(os.path.join(os.environ["AIRFLOW_HOME"], "triggerer-test.log"), "w")  # noqa: SIM115
        self.proc = subprocess.Popen([os.path.join(os.path.dirname(sys.executable), "airflow"), "triggerer"],
                                     stdout=self.log, stderr=subprocess.STDOUT, env=dict(os.environ))
        return self

    def __exit__(self, *exc) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=60)
        except Exception:  # noqa: BLE001
            self.proc.kill()
        self.log.close()

    def output(self) -> str:
        with open(self.log.name) as fh:
            return fh.read()


def _ti_row(ti_id):
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        ti = session.scalar(select(TaskInstance).where(TaskInstance.id == ti_id))
        return ti.state, ti.next_kwargs, ti.trigger_id


def _set_state(ti_id, state) -> None:
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session
    from sqlalchemy import update

    with create_session() as session:
        session.execute(update(TaskInstance).where(TaskInstance.id == ti_id).values(state=state))


def _wait(cond, what: str, triggerer: RealTriggerer, timeout: float = 300):
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = cond()
        if value:
            return value
        if triggerer.proc.poll() is not None:
            raise AssertionError(f"the triggerer exited while waiting for {what}:\n{triggerer.output()[-3000:]}")
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what}; triggerer log:\n{triggerer.output()[-3000:]}")


@pytest.mark.airflow
def test_real_triggerer_fires_and_kills(tmp_path, monkeypatch, airflow_db, capfd):
    """The deferred task's trigger runs in a real ``airflow triggerer`` process (not in line).

    ``dag.test()`` normally runs the trigger itself; here its in-line runner is replaced by: put the task
    back in DEFERRED (``dag.test`` queued it), let the real triggerer pick the Trigger row up and poll the
    fake RM, and resume with the event the triggerer stored. Second run: the application never ends, the
    task is marked failed while deferred (a user action), and the triggerer's ``on_kill`` must send the kill.
    YARN itself is not run: the RM is ``tests/helpers/fake_rm.py``.
    """
    from airflow.sdk.definitions import dag as sdk_dag
    from airflow.sdk.serde import deserialize
    from airflow.triggers.base import TriggerEvent

    seen: dict = {}

    def via_real_triggerer(trigger, task_sdk_ti):
        _set_state(task_sdk_ti.id, "deferred")
        seen["trigger_id"] = _ti_row(task_sdk_ti.id)[2]
        if seen["mode"] == "kill":
            rm = seen["rm"]
            _wait(lambda: any(m == "GET" for m, _, _ in rm.requests), "the triggerer's first RM poll", seen["t"])
            _set_state(task_sdk_ti.id, "failed")  # "mark failed" on the deferred task
            _wait(lambda: rm.kills(), "the kill sent by the trigger's on_kill", seen["t"])
            raise RuntimeError("task killed while deferred")
        state, next_kwargs, _ = _wait(lambda: (r := _ti_row(task_sdk_ti.id))[0] == "scheduled" and r,
                                      "the triggerer's event", seen["t"])
        return TriggerEvent(deserialize(next_kwargs)["event"])

    monkeypatch.setattr(sdk_dag, "_run_inline_trigger", via_real_triggerer)
    report = {"status": "succeeded", "published": True, "run_id": "run-deferred", "rows_in": 10, "rows_out": 10,
              "output_partition": {"dt": "2026-01-05"}, "checks": []}
    with RealTriggerer() as triggerer:
        seen["t"], seen["mode"] = triggerer, "fire"
        dr, ti, rm, _ = _deferred_dag_run(tmp_path / "a", monkeypatch, ["ACCEPTED", "RUNNING", "FINISHED:SUCCEEDED"],
                                          report)
        assert ti.state == "success", triggerer.output()[-3000:]
        assert [p for m, p, _ in rm.requests if m == "GET"] == ["/ws/v1/cluster/apps/application_1700000000000_0042"] * 3

        seen["mode"] = "kill"
        dr, ti, rm, _ = _deferred_dag_run(tmp_path / "b", monkeypatch, ["ACCEPTED", "RUNNING"], None,
                                          on_rm=lambda r: seen.update(rm=r))
        assert rm.kills() == ["application_1700000000000_0042"]
        assert ti.state == "failed"

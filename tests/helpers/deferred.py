"""Running ``SparkPredictOperator(deferrable=True)`` in tests: a one-task DAG through ``dag.test()``, and a
real ``airflow triggerer`` process on the tests' Airflow DB.

The clusters themselves (YARN, Kubernetes) cannot run here: their APIs are played by
``tests/helpers/fake_rm.py`` / ``tests/helpers/fake_k8s.py``, and only spark-submit
(``SparkSubmitHook.submit``) is replaced by the test's function. Everything else is real: the hook stages,
writes the spec and records the submission, the operator defers, Airflow serializes the trigger, runs it
(in line, or in the real triggerer) against the fake API over HTTP and resumes the task.
"""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

DEFERRED_DAG = '''
import os
from datetime import datetime, timedelta

from airflow.sdk import DAG

from airflow_provider_spark_predict.operators.predict import SparkPredictOperator

ROOT = os.environ["DEFERRED_TEST_ROOT"]
with DAG("deferred_scoring", schedule=None, start_date=datetime(2026, 1, 1)) as dag:
    SparkPredictOperator(task_id="score", model=os.environ["DEFERRED_TEST_MODEL"], input_path=f"file://{ROOT}/in",
                         keys=["pin"], features=["a", "b", "c"], output_path=f"file://{ROOT}/out",
                         conn_id=os.environ["DEFERRED_TEST_CONN"], deferrable=True, poll_interval=0.05,
                         retries=int(os.environ.get("DEFERRED_TEST_RETRIES", "0")), retry_delay=timedelta(0))
'''


def first_event(trigger: Any, timeout: float = 60) -> dict[str, Any]:
    """Run ``trigger`` in an event loop of its own until its first event; its payload."""
    import asyncio

    async def go() -> dict[str, Any]:
        gen = trigger.run()
        event = await asyncio.wait_for(gen.__anext__(), timeout=timeout)
        await gen.aclose()
        return dict(event.payload)

    return asyncio.run(go())


def model(tmp_path: pathlib.Path) -> str:
    """A tiny XGBoost model file over features a, b, c."""
    import numpy as np
    import xgboost as xgb

    rng = np.random.default_rng(1)
    x = rng.normal(size=(200, 3)).astype(np.float32)
    booster = xgb.train({"objective": "binary:logistic", "max_depth": 2}, xgb.DMatrix(
        x, label=(x[:, 0] > 0).astype(int), feature_names=["a", "b", "c"]), num_boost_round=3)
    path = str(tmp_path / "model.json")
    booster.save_model(path)
    return path


def local(uri: str) -> pathlib.Path:
    """The local path of a ``file://`` URI."""
    assert uri.startswith("file://"), uri
    return pathlib.Path(uri.removeprefix("file://"))


def staged_spec(submit_hook: Any) -> dict[str, Any]:
    """The spec the hook staged for this spark-submit (its ``--spec`` argument), as a dict."""
    args = list(submit_hook._application_args)
    return dict(json.loads(local(args[args.index("--spec") + 1]).read_text()))


def write_report(spec: dict[str, Any], report: dict[str, Any]) -> None:
    """Write ``report`` (with the spec's run id) where the job would."""
    path = local(spec["report_uri"])
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({**report, "run_id": spec["run_id"]}))


def load_dag_file(path: str) -> Any:
    import importlib.util

    spec = importlib.util.spec_from_file_location("deferred_scoring_dag", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.dag


def run_deferred_dag(tmp_path: pathlib.Path, monkeypatch: Any, conn: dict[str, Any],
                     fake_spark_submit: Callable[..., None], retries: int = 0) -> Any:
    """``dag.test()`` of a one-task DAG whose operator (``deferrable=True``) uses the connection ``conn``;
    ``SparkSubmitHook.submit`` is ``fake_spark_submit``. Returns the DAG run."""
    from datetime import UTC, datetime

    from airflow.providers.apache.spark.hooks.spark_submit import SparkSubmitHook

    tmp_path.mkdir(parents=True, exist_ok=True)
    monkeypatch.setenv("AIRFLOW_CONN_SPARK_DEFERRED", json.dumps(conn))
    monkeypatch.setattr(SparkSubmitHook, "submit", fake_spark_submit)
    # dag.test() needs the DAG file in the dags folder: a one-file folder for this test
    dags = tmp_path / "dags"
    dags.mkdir()
    (dags / "deferred_scoring.py").write_text(DEFERRED_DAG)
    monkeypatch.setenv("AIRFLOW__CORE__DAGS_FOLDER", str(dags))
    monkeypatch.setenv("AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_CONFIG_LIST", json.dumps([{
        "name": "dags-folder", "classpath": "airflow.dag_processing.bundles.local.LocalDagBundle",
        "kwargs": {"path": str(dags)}}]))
    monkeypatch.setenv("DEFERRED_TEST_MODEL", model(tmp_path))
    monkeypatch.setenv("DEFERRED_TEST_ROOT", str(tmp_path))
    monkeypatch.setenv("DEFERRED_TEST_CONN", "spark_deferred")
    monkeypatch.setenv("DEFERRED_TEST_RETRIES", str(retries))
    dag = load_dag_file(str(dags / "deferred_scoring.py"))
    return dag.test(logical_date=datetime(2026, 1, 5, tzinfo=UTC))


class RealTriggerer:
    """``airflow triggerer`` in a subprocess on the tests' Airflow DB (SQLite), stopped by its pid."""

    def __enter__(self) -> RealTriggerer:
        self.log = open(os.path.join(os.environ["AIRFLOW_HOME"], "triggerer-test.log"), "w")  # noqa: SIM115
        self.proc = subprocess.Popen([os.path.join(os.path.dirname(sys.executable), "airflow"), "triggerer"],
                                     stdout=self.log, stderr=subprocess.STDOUT, env=dict(os.environ))
        return self

    def __exit__(self, *exc: Any) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=60)
        except Exception:  # noqa: BLE001
            self.proc.kill()
        self.log.close()

    def output(self) -> str:
        with open(self.log.name) as fh:
            return fh.read()


def ti_row(ti_id: Any) -> tuple[Any, Any, Any]:
    """``(state, next_kwargs, trigger_id)`` of a task instance, from the DB."""
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        ti = session.scalar(select(TaskInstance).where(TaskInstance.id == ti_id))
        assert ti is not None, ti_id
        return ti.state, ti.next_kwargs, ti.trigger_id


def set_state(ti_id: Any, state: str) -> None:
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session
    from sqlalchemy import update

    with create_session() as session:
        session.execute(update(TaskInstance).where(TaskInstance.id == ti_id).values(state=state))


def wait(cond: Callable[[], Any], what: str, triggerer: RealTriggerer, timeout: float = 300) -> Any:
    """Poll ``cond`` until it is truthy (fails when the triggerer exits or after ``timeout`` seconds)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = cond()
        if value:
            return value
        if triggerer.proc.poll() is not None:
            raise AssertionError(f"the triggerer exited while waiting for {what}:\n{triggerer.output()[-3000:]}")
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what}; triggerer log:\n{triggerer.output()[-3000:]}")


def via_real_triggerer(monkeypatch: Any, seen: dict[str, Any]) -> None:
    """Make ``dag.test()`` hand its deferred task to the real triggerer ``seen["t"]`` instead of running the
    trigger in line: put the task back in DEFERRED (``dag.test`` queued it), let the triggerer pick the
    Trigger row up and poll the fake API, and resume with the event the triggerer stored.

    ``seen["t"]`` is the :class:`RealTriggerer`. With ``seen["mode"] == "kill"``: once ``seen["polled"]()``
    says the triggerer polled, the task is marked failed while deferred (a user action) and the triggerer's
    ``on_kill`` must send the kill (``seen["kills"]()`` non-empty).
    """
    from airflow.sdk.definitions import dag as sdk_dag
    from airflow.sdk.serde import deserialize
    from airflow.triggers.base import TriggerEvent

    def run(trigger: Any, task_sdk_ti: Any) -> Any:
        set_state(task_sdk_ti.id, "deferred")
        seen["trigger_id"] = ti_row(task_sdk_ti.id)[2]
        if seen["mode"] == "kill":
            wait(seen["polled"], "the triggerer's first poll", seen["t"])
            set_state(task_sdk_ti.id, "failed")  # "mark failed" on the deferred task
            wait(seen["kills"], "the kill sent by the trigger's on_kill", seen["t"])
            raise RuntimeError("task killed while deferred")
        state, next_kwargs, _ = wait(lambda: (r := ti_row(task_sdk_ti.id))[0] == "scheduled" and r,
                                     "the triggerer's event", seen["t"])
        kwargs: Any = deserialize(next_kwargs)
        return TriggerEvent(kwargs["event"])

    monkeypatch.setattr(sdk_dag, "_run_inline_trigger", run)

"""``deferrable=True``: submit in YARN / Kubernetes cluster mode, free the worker slot, resume when it ends.

:class:`SparkPredictOperator` calls :func:`defer_run` from ``execute`` and :func:`resume_report` from
``execute_complete``; while deferred, the backend's trigger
(:class:`~airflow_provider_spark_predict.triggers.yarn.YarnApplicationTrigger` polling the ResourceManager,
:class:`~airflow_provider_spark_predict.triggers.kubernetes.KubernetesDriverPodTrigger` polling the driver
pod) runs in the triggerer, logs the driver's status lines, and its ``on_kill`` kills the application
(YARN) / deletes the driver pod (Kubernetes) when the user kills the task. Submission, the submission
record and re-attaching are the hook's (:meth:`SparkPredictHook.submit_detached`,
:meth:`SparkPredictHook.active_submission`).
"""

from __future__ import annotations

from typing import Any

from airflow_provider_spark_predict.exceptions import JobError
from airflow_provider_spark_predict.hooks.predict import SparkPredictHook
from airflow_provider_spark_predict.spec import ScoringSpec


def defer_run(operator: Any, hook: SparkPredictHook, spec: ScoringSpec, poll_interval: float,
              skip_if_checked: bool = False) -> dict[str, Any]:
    """Submit (or re-attach to the application of an earlier try) and defer to the trigger; or, with
    ``skip_if_checked``, return the report of the same run already published and checked.

    :param operator: the :class:`SparkPredictOperator` (its ``defer`` raises ``TaskDeferred``)
    :param hook: the operator's hook
    :param spec: the run
    :param poll_interval: seconds between polls of the cluster's API
    :param skip_if_checked: as :meth:`SparkPredictHook.run`
    """
    checked = hook.prepare_detached(spec, skip_if_checked)
    if checked is not None:
        return checked
    attached = hook.active_submission(spec)
    app_id, run_id, report_uri = attached if attached is not None else hook.submit_detached(spec)
    trigger = hook.trigger(app_id, run_id, report_uri, poll_interval)
    operator.log.info("%s %s %s; deferring (the worker slot is free until it ends)", trigger.kind, app_id,
                      "re-attached" if attached is not None else "submitted")
    operator.defer(trigger=trigger, method_name="execute_complete")
    raise AssertionError("unreachable: defer() raises TaskDeferred")


def resume_report(hook: SparkPredictHook, spec: ScoringSpec, event: dict[str, Any]) -> dict[str, Any]:
    """The run report after the trigger fired (raises the job's error as ``execute`` would).

    :param hook: the operator's hook
    :param spec: the operator's spec (its ``run_id``/``report_uri`` are taken from the event)
    :param event: the trigger's payload
    """
    ctx = event.get("context") or {}
    spec.run_id, spec.report_uri = str(ctx.get("run_id")), str(ctx.get("report_uri"))
    status, app_id = event.get("status"), event.get("application_id")
    if status == "error":
        raise JobError(f"{event.get('message')} (report: {spec.report_uri})")
    ended: Exception | None = None
    if status == "gone":
        # the driver pod was deleted after (or before) it ended: its report, if written, says how the run went
        if hook.read_text(spec.report_uri) is None:
            raise JobError(f"{event.get('diagnostics')}; the run wrote no report to {spec.report_uri}")
    elif status != "success":
        ended = JobError(f"{event.get('kind', 'application')} {app_id} ended {event.get('state')}/{event.get('final_status')}: "
                         f"{event.get('diagnostics')}")
    report = hook.read_report(spec, ended)
    report["application_id"] = app_id or report.get("application_id")
    return report

"""``deferrable=True``: submit on YARN cluster mode, free the worker slot, resume when the app ends.

:class:`SparkPredictOperator` calls :func:`defer_run` from ``execute`` and :func:`resume_report` from
``execute_complete``; while deferred, :class:`YarnApplicationTrigger` polls the ResourceManager in the
triggerer, and its ``on_kill`` kills the application when the user kills the task.

Only YARN cluster mode is deferrable here (Kubernetes: not yet).
"""

from __future__ import annotations

import json
from typing import Any

from airflow_provider_spark_predict.exceptions import JobError, SpecError
from airflow_provider_spark_predict.hooks.predict import JOB_MAIN, YARN_ACTIVE, run_identity
from airflow_provider_spark_predict.spec import ScoringSpec
from airflow_provider_spark_predict.triggers.yarn import YarnApplicationTrigger

RM_EXTRA = "yarn_resourcemanager_webapp_address"


def rm_address(hook: Any) -> str:
    """The ResourceManager web address from the Spark connection's extra ``yarn_resourcemanager_webapp_address``."""
    extra = hook.get_connection(hook.resolve_conn_id()).extra_dejson
    address = extra.get(RM_EXTRA)
    if not address:
        raise SpecError(f"deferrable=True needs the Spark connection extra {RM_EXTRA!r} (e.g. http://rm:8088)")
    return str(address)


def recorded_active_app(hook: Any, spec: ScoringSpec) -> tuple[str, str, str] | None:
    """A retry: (application id, run id, report URI) of the still active application an earlier try of the
    same run submitted, or ``None``."""
    text = hook.read_text(hook._submitted_uri(spec))
    if text is None:
        return None
    record = json.loads(text)
    if record.get("identity") != run_identity(spec):
        return None
    status = hook.prepare_probe().query_yarn_application_status(record["application_id"])
    if str(status).upper() not in YARN_ACTIVE:
        return None
    return str(record["application_id"]), str(record["run_id"]), str(record["report_uri"])


def submit_detached(hook: Any, spec: ScoringSpec) -> tuple[str, str, str]:
    """Stage and submit ``spec`` in YARN cluster mode; return once YARN accepted it:
    (application id, run id, report URI). The submission is recorded for re-attaching retries.

    Belongs in the hook as ``SparkPredictHook.submit_detached(spec)``; kept here until it moves.
    """
    from airflow_provider_spark_predict import embedded

    _, master, deploy_mode = hook.resolve_master()
    if not (master.startswith("yarn") and deploy_mode == "cluster"):
        raise SpecError(f"deferrable=True needs YARN cluster mode; the connection gives {master} ({deploy_mode})")
    hook.track_via_api = True
    embedded.ensure_spark_submit_on_path()
    submit_hook = hook.prepare(spec)
    submit_hook.submit(JOB_MAIN)
    app_id = submit_hook._yarn_application_id
    if not app_id:
        raise JobError(f"spark-submit returned without a YARN application id for run {spec.run_id}")
    hook._record_submission(spec, app_id)
    return str(app_id), spec.run_id, spec.report_uri


def defer_run(operator: Any, hook: Any, spec: ScoringSpec, poll_interval: float,
              skip_if_checked: bool = False) -> dict[str, Any]:
    """Submit (or re-attach to the application of an earlier try) and defer to the trigger; or, with
    ``skip_if_checked``, return the report of the same run already published and checked.

    :param operator: the :class:`SparkPredictOperator` (its ``defer`` raises ``TaskDeferred``)
    :param poll_interval: seconds between ResourceManager polls
    :param skip_if_checked: as :meth:`SparkPredictHook.run`
    """
    from airflow_provider_spark_predict import preflight

    preflight.check_model(spec, hook._logger)
    spec.model.uri = hook.stage_model(spec).uri
    checked = hook.find_checked_report(spec) if skip_if_checked else None
    if checked is not None:
        operator.log.info("not submitting: %s was already scored and checked by run %s (%s)",
                          spec.output.describe(), checked.get("run_id"), checked.get("checked_report_uri"))
        return dict(checked)
    attached = recorded_active_app(hook, spec)
    if attached is not None:
        app_id, run_id, report_uri = attached
        operator.log.info("re-attaching to application %s of run %s instead of submitting again", app_id, run_id)
    else:
        app_id, run_id, report_uri = submit_detached(hook, spec)
    trigger = YarnApplicationTrigger(
        application_id=app_id, rm_address=rm_address(hook), poll_interval=poll_interval,
        context={"run_id": run_id, "report_uri": report_uri},
    )
    operator.log.info("application %s accepted; deferring (the worker slot is free until it ends)", app_id)
    operator.defer(trigger=trigger, method_name="execute_complete")
    raise AssertionError("unreachable: defer() raises TaskDeferred")


def resume_report(hook: Any, spec: ScoringSpec, event: dict[str, Any]) -> dict[str, Any]:
    """The run report after the trigger fired (raises the job's error as ``execute`` would).

    :param spec: the operator's spec (its ``run_id``/``report_uri`` are taken from the event)
    :param event: the trigger's payload
    """
    ctx = event.get("context") or {}
    spec.run_id, spec.report_uri = str(ctx.get("run_id")), str(ctx.get("report_uri"))
    if event.get("status") == "error":
        raise JobError(f"{event.get('message')} (report: {spec.report_uri})")
    hook.resolve_master()
    ended: Exception | None = None
    if event.get("status") != "success":
        ended = JobError(f"YARN application {event.get('application_id')} ended {event.get('state')}/"
                         f"{event.get('final_status')}: {event.get('diagnostics')}")
    report: dict[str, Any] = hook._read_report(spec, ended, {})
    report["application_id"] = event.get("application_id") or report.get("application_id")
    return report

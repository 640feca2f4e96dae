"""The output table/path of a scoring task as an Airflow Asset, and the extra of its asset event.

A published partition emits one asset event whose ``extra`` tells consumers which partition is ready
and what the run found (rows, checks, PSI, run id). A run whose ``fail`` checks failed raises, so the
task fails and no event is emitted.
"""

from __future__ import annotations

from typing import Any

from airflow.sdk import Asset


def output_asset(output_table: str | None, output_path: str | None) -> Asset | None:
    """``hive://<db.table>`` (name ``<db.table>``) or the output path URI; ``None`` when the target is
    templated (``{{ ... }}``: unknown when the DAG is parsed) or missing.

    :param output_table: the operator's ``output_table``
    :param output_path: the operator's ``output_path``
    """
    target = output_table or output_path
    if not target or "{{" in target or "{%" in target:
        return None
    if output_table:
        return Asset(uri=f"hive://{output_table}", name=output_table)
    uri = output_path if "://" in str(output_path) else f"file://{output_path}"
    return Asset(uri=str(uri).rstrip("/"), name=str(output_path))


def event_extra(report: dict[str, Any]) -> dict[str, Any]:
    """The asset event's ``extra``: the published partition and the report summary.

    :param report: the run report (published)
    """
    return {
        "partition": report.get("output_partition"),
        "published_location": report.get("published_location"),
        "run_id": report.get("run_id"),
        "rows_in": report.get("rows_in"),
        "rows_out": report.get("rows_out"),
        "psi": report.get("psi"),
        "checks": {c["name"]: c["status"] for c in report.get("checks", [])},
        "report_uri": report.get("report_uri") or report.get("checked_report_uri"),
    }


def attach_event_extra(outlets: list[Any], context: Any, report: dict[str, Any], log: Any) -> None:
    """Put :func:`event_extra` on the asset event of every Asset outlet, only when ``report`` was published.

    :param outlets: the task's outlets
    :param context: the task context (``outlet_events``)
    :param report: the run report
    :param log: the operator's logger
    """
    if not report.get("published"):
        return
    events = context.get("outlet_events") if context is not None else None
    if events is None:
        return
    extra = event_extra(report)
    for outlet in outlets or []:
        if isinstance(outlet, Asset):
            events[outlet].extra = extra
            log.info("asset event %s: partition %s, run %s", outlet.uri, extra["partition"], extra["run_id"])

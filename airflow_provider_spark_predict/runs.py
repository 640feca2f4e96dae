"""Run identity and the records kept about runs in the store.

* :func:`new_run_id`: a sortable, unique id per run.
* :func:`run_identity`: the spec fields that decide the rows a run writes; two runs with the same
  identity write the same partition content.
* :func:`find_checked_report`: the published, checked report of an earlier run with the same identity
  (``skip_if_checked``).
* :func:`record_submission` / :func:`recorded_submission`: ``_SUBMITTED.json``, written after a tracked
  cluster-mode submission so a retry can re-attach to the running application.

Every record lives under :func:`~airflow_provider_spark_predict.report.report_folder` in the store.
"""

from __future__ import annotations

import json
import logging
import uuid
from datetime import UTC, datetime
from typing import Any

from airflow_provider_spark_predict.report import CHECKED_MARKER, report_folder
from airflow_provider_spark_predict.spec import ScoringSpec
from airflow_provider_spark_predict.staging.store import Store

#: Record written after a cluster-mode submission that is followed through the cluster's API.
SUBMITTED_RECORD = "_SUBMITTED.json"
#: Spec fields that decide what rows a run writes: a published run with the same values is a re-run.
IDENTITY_FIELDS = ("input", "model", "output", "keys", "features", "fill_value", "on_invalid", "outputs")
#: Report statuses of a run that finished (its partition was either published or refused by checks).
FINISHED_STATUSES = frozenset({"succeeded", "failed_checks"})


def new_run_id() -> str:
    """A sortable, unique run id: UTC timestamp + random suffix."""
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ") + "-" + uuid.uuid4().hex[:8]


def run_identity(spec: ScoringSpec | dict[str, Any]) -> dict[str, Any]:
    """What decides the rows of a run: input, staged model (its URI carries the content hash), output
    target and partition, keys, features, missing-value handling and output columns.

    :param spec: the spec, or its dict form (as kept in a report)
    """
    data = spec.to_dict() if isinstance(spec, ScoringSpec) else spec
    ident = {k: data.get(k) for k in IDENTITY_FIELDS}
    output = dict(ident.get("output") or {})
    output.pop("keep_previous_versions", None)
    ident["output"] = output
    return json.loads(json.dumps(ident, sort_keys=True, default=str))


def _read_json(store: Store, uri: str, log: logging.Logger) -> dict[str, Any] | None:
    text = store.read_text(store.relative(uri))
    if text is None:
        return None
    try:
        data = json.loads(text)
    except ValueError:
        log.warning("%s is not JSON: ignored", uri)
        return None
    return data if isinstance(data, dict) else None


def find_checked_report(store: Store, spec: ScoringSpec, log: logging.Logger) -> dict[str, Any] | None:
    """The published, checked report of an earlier run of the same partition with the same identity
    (:func:`run_identity`), with ``checked_report_uri`` added; else ``None``.

    :param store: the report store
    :param spec: the run, with ``model.uri`` already the staged (content-hashed) URI
    :param log: logger for why an earlier report does not count
    """
    uri = f"{report_folder(store.uri, spec.output)}/{CHECKED_MARKER}"
    report = _read_json(store, uri, log)
    if report is None:
        log.info("no checked report at %s: scoring", uri)
        return None
    if report.get("status") != "succeeded" or not report.get("published"):
        return None
    previous = run_identity(report.get("spec") or {})
    current = run_identity(spec)
    if previous != current:
        changed = sorted(k for k in current if previous.get(k) != current.get(k))
        log.info("checked report %s is of a different run (changed: %s): scoring", uri, changed)
        return None
    report["checked_report_uri"] = uri
    return report


def submitted_record_uri(store: Store, spec: ScoringSpec) -> str:
    """URI of the ``_SUBMITTED.json`` record of ``spec``'s output partition.

    :param store: the report store
    :param spec: the run
    """
    return f"{report_folder(store.uri, spec.output)}/{SUBMITTED_RECORD}"


def record_submission(store: Store, spec: ScoringSpec, application_id: str, master: str,
                      log: logging.Logger) -> None:
    """Write ``_SUBMITTED.json``: run id, application id, report URI, master, identity, time.

    :param store: the report store
    :param spec: the submitted run (``run_id`` and ``report_uri`` set)
    :param application_id: the cluster's id of the application (YARN application id, driver pod)
    :param master: the Spark master it was submitted to
    :param log: logger
    """
    uri = submitted_record_uri(store, spec)
    record = {"run_id": spec.run_id, "application_id": application_id, "report_uri": spec.report_uri,
              "master": master, "identity": run_identity(spec),
              "submitted_at": datetime.now(UTC).isoformat()}
    store.write_text(store.relative(uri), json.dumps(record, sort_keys=True, indent=1))
    log.info("recorded application %s of run %s in %s", application_id, spec.run_id, uri)


def recorded_submission(store: Store, spec: ScoringSpec, log: logging.Logger) -> dict[str, Any] | None:
    """The ``_SUBMITTED.json`` record of an earlier submission of the same run identity, else ``None``.

    :param store: the report store
    :param spec: the run, with ``model.uri`` already the staged URI
    :param log: logger
    """
    record = _read_json(store, submitted_record_uri(store, spec), log)
    if record is None or record.get("identity") != run_identity(spec):
        return None
    return record


def report_status(store: Store, report_uri: str, log: logging.Logger) -> str | None:
    """The ``status`` of the report at ``report_uri``, or ``None`` when there is no readable report.

    :param store: the report store
    :param report_uri: the report's URI (under the store)
    :param log: logger
    """
    report = _read_json(store, report_uri, log)
    return str(report.get("status")) if report is not None else None

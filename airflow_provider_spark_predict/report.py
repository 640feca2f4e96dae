"""The run report: a typed, versioned record of one scoring run, where it lives in the store, and how it
reads as the table an on-call engineer wants to see first.

Built in one place (:mod:`airflow_provider_spark_predict.run.sequence`), written as JSON by the engine
(``<store>/reports/<table or path slug>/<partition>/<run id>.json``, and ``_CHECKED.json`` beside it when
the partition was published with every ``fail`` check passed), read back with :meth:`RunReport.from_json`
by the hook, the operator and the sensor.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from airflow_provider_spark_predict.checks.evaluate import CheckResult
from airflow_provider_spark_predict.exceptions import JobError
from airflow_provider_spark_predict.run.layout import partition_path

if TYPE_CHECKING:
    from airflow_provider_spark_predict.spec import TargetSpec

REPORT_VERSION = 1
#: written next to the run reports only when the partition was published with every ``fail`` check passed
CHECKED_MARKER = "_CHECKED.json"


def _slug(text: str) -> str:
    keep = "".join(c if c.isalnum() or c in "._-" else "_" for c in text)
    return keep if keep == text else keep[:80] + "-" + hashlib.sha256(text.encode()).hexdigest()[:8]


def report_folder(store_uri: str, target: TargetSpec) -> str:
    """``<store>/reports/<table or path slug>/<partition path>``: every run report of one output partition."""
    name = target.table or _slug(target.path or "")
    return f"{store_uri.rstrip('/')}/reports/{name}/{partition_path(target.partition)}"


@dataclass
class ModelFacts:
    """The model as the run loaded it.

    :param uri: the (staged) model URI
    :param flavor: resolved flavor
    :param library: ``name==version`` of the library that ran it
    :param n_features: number of input columns
    :param classes: class labels, ``None`` for regressors
    :param input_kind: ``matrix`` (float matrix) or ``frame`` (pandas DataFrame); ``None``: a Spark ML
        pipeline reads its own columns
    :param cast_rules: per feature column: ``column``, ``input_type``, ``given_as``, ``rule``
    :param unseen_categories: categorical column -> values not seen in training (given as missing)
    """

    uri: str = ""
    flavor: str = ""
    library: str | None = None
    n_features: int = 0
    classes: list[Any] | None = None
    input_kind: str | None = None
    cast_rules: list[dict[str, Any]] | None = None
    unseen_categories: dict[str, int] | None = None


@dataclass
class RunReport:
    """One scoring run. ``status``: ``running``, ``succeeded``, ``failed_checks`` or ``error``.

    Facts of the written rows (``rows_out`` ... ``previous_distribution``) are those of
    :mod:`airflow_provider_spark_predict.run.facts`; ``checks`` are the evaluated result checks.
    ``report_uri``, ``staging``, ``checked_report_uri`` and ``resubmission_skipped`` are filled in by the
    hook on the Airflow side.
    """

    run_id: str = ""
    engine: str = "spark"
    status: str = "running"
    input: str = ""
    output: str = ""
    output_partition: dict[str, str] = field(default_factory=dict)
    spec: dict[str, Any] = field(default_factory=dict)
    started_at: str | None = None
    finished_at: str | None = None
    wall_s: float | None = None
    application_id: str | None = None
    tracking_url: str | None = None
    master: str | None = None
    model: ModelFacts | None = None
    rows_in: int | None = None
    input_filter: str | None = None
    strategy: dict[str, Any] | None = None
    model_loads: int | None = None
    model_predict_s: float | None = None
    version_path: str | None = None
    rows_out: int | None = None
    duplicate_keys: int | None = None
    null_keys: int | None = None
    null_predictions: int | None = None
    score_summary: dict[str, float | None] | None = None
    class_counts: dict[str, int] | None = None
    uncovered_labels: list[str] | None = None
    previous_partition: dict[str, str] | None = None
    psi: float | None = None
    psi_basis: str | None = None
    previous_distribution: dict[str, int] | None = None
    checks: list[CheckResult] = field(default_factory=list)
    published: bool = False
    published_location: str | None = None
    replaced_location: str | None = None
    durations: dict[str, float] = field(default_factory=dict)
    phases_s: dict[str, float] = field(default_factory=dict)
    rows_scored: int | None = None
    rows_per_s: float | None = None
    error_type: str | None = None
    error: str | None = None
    traceback: str | None = None
    report_uri: str | None = None
    staging: dict[str, Any] | None = None
    checked_report_uri: str | None = None
    resubmission_skipped: str | None = None
    report_version: int = REPORT_VERSION

    @property
    def failed_checks(self) -> list[CheckResult]:
        return [c for c in self.checks if c.status == "failed"]

    def update(self, facts: dict[str, Any]) -> None:
        """Set fields from ``facts`` (names of fields of this class)."""
        unknown = sorted(set(facts) - _FIELDS)
        if unknown:
            raise ValueError(f"not run report fields: {unknown}")
        for name, value in facts.items():
            setattr(self, name, value)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dict (the XCom value and the file's content)."""
        data = dataclasses.asdict(self)
        return json.loads(json.dumps(data, default=str))

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True, indent=1)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunReport:
        """Read a report written by :meth:`to_dict` (missing fields take their defaults).

        :raises JobError: a newer report version, or fields this version does not know
        """
        data = dict(data)
        version = int(data.get("report_version", REPORT_VERSION))
        if version > REPORT_VERSION:
            raise JobError(f"run report version {version} is newer than this package's ({REPORT_VERSION})")
        unknown = sorted(set(data) - _FIELDS)
        if unknown:
            raise JobError(f"run report has fields this package does not know: {unknown}")
        if isinstance(data.get("model"), dict):
            data["model"] = ModelFacts(**data["model"])
        data["checks"] = [CheckResult(**c) for c in data.get("checks") or []]
        return cls(**data)

    @classmethod
    def from_json(cls, text: str) -> RunReport:
        try:
            data = json.loads(text)
        except ValueError as err:
            raise JobError(f"run report is not JSON: {err}") from None
        return cls.from_dict(data)


_FIELDS = {f.name for f in dataclasses.fields(RunReport)}


def _fmt(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def format_report(report: RunReport) -> str:
    """Return a multi-line text table: outcome, rows, checks, durations, distribution, score summary.

    :param report: the run report
    """
    lines = ["spark-predict run report", "=" * 60]
    rows: list[tuple[str, Any]] = [
        ("status", report.status),
        ("published", report.published),
        ("engine", report.engine),
        ("input", report.input),
        ("output", report.output),
        ("rows in", report.rows_in),
        ("rows out", report.rows_out),
        ("duplicate keys", report.duplicate_keys),
        ("null predictions", report.null_predictions),
        ("PSI vs previous", report.psi),
        ("previous partition", report.previous_partition),
        ("strategy", report.strategy),
        ("model loads", report.model_loads),
        ("model", report.model.uri if report.model else None),
        ("application id", report.application_id),
        ("wall seconds", report.wall_s),
    ]
    if report.error:
        rows.append(("error", f"{report.error_type}: {report.error}"))
    width = max(len(k) for k, _ in rows)
    lines += [f"{k.ljust(width)} : {_fmt(v)}" for k, v in rows if v is not None]
    if report.checks:
        lines += ["-" * 60, "checks:"]
        lines += [f"  [{c.status:>7}] {c.message}" for c in report.checks]
    if report.durations:
        lines += ["-" * 60, "durations (s): " + ", ".join(f"{k}={v}" for k, v in report.durations.items())]
    if report.phases_s:
        rate = f" ({report.rows_per_s:,.0f} rows/s scoring)" if report.rows_per_s else ""
        lines.append("phases (s): " + ", ".join(f"{k}={v}" for k, v in report.phases_s.items()) + rate)
    counts = report.class_counts
    if counts:
        total = sum(counts.values()) or 1
        lines += ["-" * 60, "class distribution:"]
        for cls, n in sorted(counts.items(), key=lambda kv: -kv[1])[:30]:
            lines.append(f"  {cls:>12} {n:>14,} {n / total:7.2%}")
        if len(counts) > 30:
            lines.append(f"  ... {len(counts) - 30} more classes")
    if report.score_summary:
        lines += ["-" * 60, "score: " + ", ".join(f"{k}={_fmt(v)}" for k, v in report.score_summary.items())]
    return "\n".join(lines)


def raise_if_error(report: RunReport) -> None:
    """Raise the error a failed run reported, as the package's exception of that name (else
    :class:`JobError`), naming the report."""
    if report.status != "error":
        return
    from airflow_provider_spark_predict import exceptions

    cls = getattr(exceptions, str(report.error_type), None)
    if not (isinstance(cls, type) and issubclass(cls, exceptions.SparkPredictError)):
        cls = JobError
    raise cls(f"{report.error} (report: {report.report_uri})")

"""Run reports: where they live in the store, and how they read as the table an on-call engineer
wants to see first."""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from airflow_provider_spark_predict.spec import TargetSpec

#: written next to the run reports only when the partition was published with every ``fail`` check passed
CHECKED_MARKER = "_CHECKED.json"


def _slug(text: str) -> str:
    keep = "".join(c if c.isalnum() or c in "._-" else "_" for c in text)
    return keep if keep == text else keep[:80] + "-" + hashlib.sha256(text.encode()).hexdigest()[:8]


def report_folder(store_uri: str, target: TargetSpec) -> str:
    """``<store>/reports/<table or path slug>/<partition path>``: every run report of one output partition."""
    name = target.table or _slug(target.path or "")
    part = "/".join(f"{k}={v}" for k, v in target.partition.items())
    return f"{store_uri.rstrip('/')}/reports/{name}/{part}"


def _fmt(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def format_report(report: dict[str, Any]) -> str:
    """Return a multi-line text table: outcome, rows, checks, durations, distribution, score summary.

    :param report: the run report written by the job
    """
    lines = ["spark-predict run report", "=" * 60]
    rows = [
        ("status", report.get("status")),
        ("published", report.get("published")),
        ("input", report.get("input")),
        ("output", report.get("output")),
        ("rows in", report.get("rows_in")),
        ("rows out", report.get("rows_out")),
        ("duplicate keys", report.get("duplicate_keys")),
        ("null predictions", report.get("null_predictions")),
        ("PSI vs previous", report.get("psi")),
        ("previous partition", report.get("previous_partition")),
        ("strategy", report.get("strategy")),
        ("model loads", report.get("model_loads")),
        ("model", (report.get("model") or {}).get("uri")),
        ("application id", report.get("application_id")),
        ("wall seconds", report.get("wall_s")),
    ]
    if report.get("error"):
        rows.append(("error", f"{report.get('error_type')}: {report.get('error')}"))
    width = max(len(k) for k, _ in rows)
    lines += [f"{k.ljust(width)} : {_fmt(v)}" for k, v in rows if v is not None]
    if report.get("checks"):
        lines += ["-" * 60, "checks:"]
        lines += [f"  [{c['status']:>7}] {c['message']}" for c in report["checks"]]
    if report.get("durations"):
        lines += ["-" * 60, "durations (s): " + ", ".join(f"{k}={v}" for k, v in report["durations"].items())]
    counts = report.get("class_counts")
    if counts:
        total = sum(counts.values()) or 1
        lines += ["-" * 60, "class distribution:"]
        for cls, n in sorted(counts.items(), key=lambda kv: -kv[1])[:30]:
            lines.append(f"  {cls:>12} {n:>14,} {n / total:7.2%}")
        if len(counts) > 30:
            lines.append(f"  ... {len(counts) - 30} more classes")
    summary = report.get("score_summary")
    if summary:
        lines += ["-" * 60, "score: " + ", ".join(f"{k}={_fmt(v)}" for k, v in summary.items())]
    return "\n".join(lines)

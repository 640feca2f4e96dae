"""Render a run report as the readable table an on-call engineer wants to see first."""

from __future__ import annotations

from typing import Any


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

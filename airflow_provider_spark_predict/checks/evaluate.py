"""Evaluate the result checks of a run against the measured facts in its report.

Every check returns a :class:`CheckResult` that names the check, the measured value, the threshold and
the policy. ``status`` is ``passed``, ``failed`` (policy fail), ``warned`` (a failure or warn-level value
under policy warn, or PSI between the warn and fail thresholds) or ``skipped``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any


@dataclass
class CheckResult:
    """Outcome of one check.

    :param name: check name (``row_parity``, ``unique_keys``, ...)
    :param status: ``passed``, ``failed``, ``warned`` or ``skipped``
    :param value: the measured value
    :param threshold: the limit it was compared with
    :param message: one line for the log, naming the check, value and threshold
    """

    name: str
    status: str
    value: Any
    threshold: Any
    policy: str
    message: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _result(name: str, ok: bool, value: Any, threshold: Any, policy: str, what: str) -> CheckResult:
    if ok:
        status = "passed"
    else:
        status = "failed" if policy == "fail" else "warned"
    verdict = "ok" if ok else "FAILED" if policy == "fail" else "WARNING"
    return CheckResult(name, status, value, threshold, policy, f"{name}: {verdict}: {what}")


def evaluate_checks(stats: dict[str, Any], checks: dict[str, dict[str, Any]]) -> list[CheckResult]:
    """Evaluate ``checks`` (name -> {policy, threshold, warn_threshold, values}) on ``stats``.

    :param stats: the measured facts: ``rows_in``, ``rows_out``, ``duplicate_keys``,
        ``null_predictions``, ``class_counts``, ``psi`` (or ``None`` without a previous partition)
    :param checks: the spec's checks, as dicts
    """
    results: list[CheckResult] = []
    rows_in = int(stats.get("rows_in") or 0)
    rows_out = int(stats.get("rows_out") or 0)

    cfg = checks.get("row_parity", {})
    if cfg.get("policy", "off") != "off":
        tol = float(cfg.get("threshold") or 0.0)
        diff = abs(rows_out - rows_in)
        rel = diff / rows_in if rows_in else float(diff > 0)
        results.append(
            _result(
                "row_parity",
                rel <= tol,
                rows_out,
                f"{rows_in} +/- {tol:.2%}",
                cfg["policy"],
                f"rows out {rows_out} vs rows in {rows_in} (difference {rel:.4%}, tolerance {tol:.2%})",
            )
        )

    cfg = checks.get("unique_keys", {})
    if cfg.get("policy", "off") != "off":
        dup = int(stats.get("duplicate_keys") or 0)
        results.append(
            _result("unique_keys", dup == 0, dup, 0, cfg["policy"], f"{dup} rows repeat a key (allowed 0)")
        )

    results += _null_keys_check(stats, checks.get("null_keys", {}))
    results += _labels_check(stats, checks.get("labels", {}))

    cfg = checks.get("null_predictions", {})
    if cfg.get("policy", "off") != "off":
        nulls = int(stats.get("null_predictions") or 0)
        frac = nulls / rows_out if rows_out else 0.0
        limit = float(cfg.get("threshold") or 0.0)
        results.append(
            _result(
                "null_predictions",
                frac <= limit,
                nulls,
                limit,
                cfg["policy"],
                f"{nulls} null/NaN predictions ({frac:.4%}; allowed {limit:.4%})",
            )
        )

    cfg = checks.get("expected_classes", {})
    if cfg.get("policy", "off") != "off":
        allowed = {str(v) for v in (cfg.get("values") or [])}
        seen = set((stats.get("class_counts") or {}).keys())
        unexpected = sorted(seen - allowed)
        results.append(
            _result(
                "expected_classes",
                not unexpected,
                unexpected,
                sorted(allowed),
                cfg["policy"],
                f"unexpected classes {unexpected}" if unexpected else "all predicted classes are expected",
            )
        )

    cfg = checks.get("drift", {})
    if cfg.get("policy", "off") != "off":
        value = stats.get("psi")
        fail_at = cfg.get("threshold")
        warn_at = cfg.get("warn_threshold")
        if value is None:
            results.append(
                CheckResult(
                    "drift", "skipped", None, fail_at, cfg["policy"],
                    "drift: skipped: no previous partition to compare with",
                )
            )
        else:
            prev = stats.get("previous_partition")
            if fail_at is not None and value > float(fail_at):
                results.append(
                    _result(
                        "drift", False, round(value, 6), fail_at, cfg["policy"],
                        f"PSI {value:.4f} against {prev} is above the fail threshold {fail_at}",
                    )
                )
            elif warn_at is not None and value > float(warn_at):
                results.append(
                    CheckResult(
                        "drift", "warned", round(value, 6), warn_at, cfg["policy"],
                        f"drift: WARNING: PSI {value:.4f} against {prev} is above the warn threshold {warn_at}",
                    )
                )
            else:
                results.append(
                    _result(
                        "drift", True, round(value, 6), fail_at, cfg["policy"],
                        f"PSI {value:.4f} against {prev} (warn {warn_at}, fail {fail_at})",
                    )
                )
    return results


def _null_keys_check(stats: dict[str, Any], cfg: dict[str, Any]) -> list[CheckResult]:
    """``null_keys``: rows whose key (any key column) is NULL, from the fact ``null_keys``; allowed 0."""
    policy = cfg.get("policy", "off")
    if policy == "off":
        return []
    if stats.get("null_keys") is None:
        return [CheckResult("null_keys", "skipped", None, 0, policy, "null_keys: skipped: not measured")]
    n = int(stats["null_keys"])
    return [_result("null_keys", n == 0, n, 0, policy, f"{n} rows have a NULL key (allowed 0)")]


def _labels_check(stats: dict[str, Any], cfg: dict[str, Any]) -> list[CheckResult]:
    """``labels``: every predicted class has a label in ``label_mapping``, from the fact ``uncovered_labels``
    (the predicted classes the mapping does not cover; absent when no label column is written)."""
    policy = cfg.get("policy", "off")
    if policy == "off":
        return []
    uncovered = stats.get("uncovered_labels")
    if uncovered is None:
        return [CheckResult("labels", "skipped", None, [], policy, "labels: skipped: no label column")]
    missing = sorted(str(c) for c in uncovered)
    what = (
        f"predicted class(es) {missing} have no label in label_mapping (their label would be NULL)"
        if missing else "every predicted class has a label"
    )
    return [_result("labels", not missing, missing, [], policy, what)]


def failed_checks(results: list[dict[str, Any]] | list[CheckResult]) -> list[dict[str, Any]]:
    """Return the results whose status is ``failed``, as dicts."""
    out = []
    for r in results:
        d = r.to_dict() if isinstance(r, CheckResult) else r
        if d["status"] == "failed":
            out.append(d)
    return out

"""Evaluate the result checks of a run against the measured facts in its report.

Every check returns a :class:`CheckResult` that names the check, the measured value, the threshold and
the policy. ``status`` is ``passed``, ``failed`` (policy fail), ``warned`` (a failure or warn-level value
under policy warn, or PSI between the warn and fail thresholds) or ``skipped``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from airflow_provider_spark_predict.report import RunReport
    from airflow_provider_spark_predict.spec import CheckSpec


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


def evaluate_checks(report: RunReport, checks: Mapping[str, CheckSpec]) -> list[CheckResult]:
    """Evaluate ``checks`` on the measured facts of ``report``.

    :param report: the run report with its facts: ``rows_in``, ``rows_out``, ``duplicate_keys``,
        ``null_predictions``, ``class_counts``, ``psi`` (``None`` without a previous partition)
    :param checks: the spec's checks (name -> :class:`CheckSpec`); a missing check is off
    """
    results: list[CheckResult] = []
    rows_in = int(report.rows_in or 0)
    rows_out = int(report.rows_out or 0)

    cfg = checks.get("row_parity")
    if cfg is not None and cfg.policy != "off":
        tol = float(cfg.threshold or 0.0)
        diff = abs(rows_out - rows_in)
        rel = diff / rows_in if rows_in else float(diff > 0)
        results.append(
            _result(
                "row_parity",
                rel <= tol,
                rows_out,
                f"{rows_in} +/- {tol:.2%}",
                cfg.policy,
                f"rows out {rows_out} vs rows in {rows_in} (difference {rel:.4%}, tolerance {tol:.2%})",
            )
        )

    cfg = checks.get("unique_keys")
    if cfg is not None and cfg.policy != "off":
        dup = int(report.duplicate_keys or 0)
        results.append(
            _result("unique_keys", dup == 0, dup, 0, cfg.policy, f"{dup} rows repeat a key (allowed 0)")
        )

    results += _null_keys_check(report, checks.get("null_keys"))
    results += _labels_check(report, checks.get("labels"))

    cfg = checks.get("null_predictions")
    if cfg is not None and cfg.policy != "off":
        nulls = int(report.null_predictions or 0)
        frac = nulls / rows_out if rows_out else 0.0
        limit = float(cfg.threshold or 0.0)
        results.append(
            _result(
                "null_predictions",
                frac <= limit,
                nulls,
                limit,
                cfg.policy,
                f"{nulls} null/NaN predictions ({frac:.4%}; allowed {limit:.4%})",
            )
        )

    cfg = checks.get("expected_classes")
    if cfg is not None and cfg.policy != "off":
        allowed = {str(v) for v in (cfg.values or [])}
        seen = set((report.class_counts or {}).keys())
        unexpected = sorted(seen - allowed)
        results.append(
            _result(
                "expected_classes",
                not unexpected,
                unexpected,
                sorted(allowed),
                cfg.policy,
                f"unexpected classes {unexpected}" if unexpected else "all predicted classes are expected",
            )
        )

    cfg = checks.get("drift")
    if cfg is not None and cfg.policy != "off":
        value = report.psi
        fail_at = cfg.threshold
        warn_at = cfg.warn_threshold
        if value is None:
            results.append(
                CheckResult(
                    "drift", "skipped", None, fail_at, cfg.policy,
                    "drift: skipped: no previous partition to compare with",
                )
            )
        else:
            prev = report.previous_partition
            if fail_at is not None and value > float(fail_at):
                results.append(
                    _result(
                        "drift", False, round(value, 6), fail_at, cfg.policy,
                        f"PSI {value:.4f} against {prev} is above the fail threshold {fail_at}",
                    )
                )
            elif warn_at is not None and value > float(warn_at):
                results.append(
                    CheckResult(
                        "drift", "warned", round(value, 6), warn_at, cfg.policy,
                        f"drift: WARNING: PSI {value:.4f} against {prev} is above the warn threshold {warn_at}",
                    )
                )
            else:
                results.append(
                    _result(
                        "drift", True, round(value, 6), fail_at, cfg.policy,
                        f"PSI {value:.4f} against {prev} (warn {warn_at}, fail {fail_at})",
                    )
                )
    return results


def _null_keys_check(report: RunReport, cfg: CheckSpec | None) -> list[CheckResult]:
    """``null_keys``: rows whose key (any key column) is NULL, from the fact ``null_keys``; allowed 0."""
    if cfg is None or cfg.policy == "off":
        return []
    if report.null_keys is None:
        return [CheckResult("null_keys", "skipped", None, 0, cfg.policy, "null_keys: skipped: not measured")]
    n = int(report.null_keys)
    return [_result("null_keys", n == 0, n, 0, cfg.policy, f"{n} rows have a NULL key (allowed 0)")]


def _labels_check(report: RunReport, cfg: CheckSpec | None) -> list[CheckResult]:
    """``labels``: every predicted class has a label in ``label_mapping``, from the fact ``uncovered_labels``
    (the predicted classes the mapping does not cover; absent when no label column is written)."""
    if cfg is None or cfg.policy == "off":
        return []
    if report.uncovered_labels is None:
        return [CheckResult("labels", "skipped", None, [], cfg.policy, "labels: skipped: no label column")]
    missing = sorted(str(c) for c in report.uncovered_labels)
    what = (
        f"predicted class(es) {missing} have no label in label_mapping (their label would be NULL)"
        if missing else "every predicted class has a label"
    )
    return [_result("labels", not missing, missing, [], cfg.policy, what)]


def failed_checks(results: list[CheckResult]) -> list[CheckResult]:
    """Return the results whose status is ``failed``."""
    return [r for r in results if r.status == "failed"]

"""PSI against a hand-computed value, and the evaluation of checks with their policies."""

from __future__ import annotations

import math

import pytest

from airflow_provider_spark_predict.checks import evaluate_checks, failed_checks, psi
from airflow_provider_spark_predict.report import RunReport
from airflow_provider_spark_predict.spec import DEFAULT_CHECKS, CheckSpec


def test_psi_matches_hand_computed_value():
    expected = {"a": 50, "b": 30, "c": 20}
    actual = {"a": 30, "b": 30, "c": 40}
    # shares e = .5 .3 .2, a = .3 .3 .4
    hand = (0.3 - 0.5) * math.log(0.3 / 0.5) + 0.0 + (0.4 - 0.2) * math.log(0.4 / 0.2)
    assert hand == pytest.approx(0.2408, abs=1e-4)
    assert psi(expected, actual) == pytest.approx(hand, rel=1e-12)


def test_psi_is_zero_for_same_shares_and_handles_empty_bins():
    assert psi({"a": 1, "b": 3}, {"a": 10, "b": 30}) == pytest.approx(0.0, abs=1e-15)
    # a bin present on one side only is floored at 1e-4
    value = psi({"a": 100}, {"a": 50, "b": 50})
    hand = (0.5 - 1.0) * math.log(0.5) + (0.5 - 1e-4) * math.log(0.5 / 1e-4)
    assert value == pytest.approx(hand, rel=1e-12)
    with pytest.raises(ValueError):
        psi({}, {"a": 1})


def good_stats(**over):
    stats = {"rows_in": 1000, "rows_out": 1000, "duplicate_keys": 0, "null_keys": 0, "uncovered_labels": [],
             "null_predictions": 0,
             "class_counts": {"0": 600, "1": 400}, "psi": 0.01, "previous_partition": {"dt": "2026-01-01"}}
    stats.update(over)
    return RunReport(**stats)


def checks_with(**over):
    """The default checks as :class:`CheckSpec`, with some replaced."""
    return {name: CheckSpec(**cfg) for name, cfg in {**DEFAULT_CHECKS, **over}.items()}


def by_name(results):
    return {r.name: r for r in results}


def test_all_checks_pass_on_good_stats():
    results = evaluate_checks(good_stats(), checks_with())
    assert {r.status for r in results} == {"passed"}
    assert failed_checks(results) == []


@pytest.mark.parametrize(
    "over, check",
    [
        ({"rows_out": 990}, "row_parity"),
        ({"duplicate_keys": 3}, "unique_keys"),
        ({"null_predictions": 1}, "null_predictions"),
    ],
)
def test_each_failure_names_the_check_value_and_threshold(over, check):
    results = by_name(evaluate_checks(good_stats(**over), checks_with()))
    assert results[check].status == "failed"
    msg = results[check].message
    assert msg.startswith(f"{check}: FAILED")
    assert str(results[check].value) in msg


def test_warn_policy_warns_instead_of_failing():
    checks = checks_with(unique_keys={"policy": "warn"})
    results = by_name(evaluate_checks(good_stats(duplicate_keys=2), checks))
    assert results["unique_keys"].status == "warned"
    assert failed_checks(list(results.values())) == []


def test_row_parity_tolerance():
    checks = checks_with(row_parity={"policy": "fail", "threshold": 0.02})
    assert by_name(evaluate_checks(good_stats(rows_out=985), checks))["row_parity"].status == "passed"
    assert by_name(evaluate_checks(good_stats(rows_out=970), checks))["row_parity"].status == "failed"


def test_drift_thresholds_and_skip_without_previous():
    checks = checks_with(drift={"policy": "fail", "warn_threshold": 0.1, "threshold": 0.25})
    assert by_name(evaluate_checks(good_stats(psi=0.05), checks))["drift"].status == "passed"
    assert by_name(evaluate_checks(good_stats(psi=0.2), checks))["drift"].status == "warned"
    failed = by_name(evaluate_checks(good_stats(psi=0.4), checks))["drift"]
    assert failed.status == "failed" and "0.4000" in failed.message and "0.25" in failed.message
    skipped = by_name(evaluate_checks(good_stats(psi=None), checks))["drift"]
    assert skipped.status == "skipped"


def test_expected_classes():
    checks = checks_with(expected_classes={"policy": "fail", "values": [0, 1]})
    assert by_name(evaluate_checks(good_stats(), checks))["expected_classes"].status == "passed"
    bad = by_name(evaluate_checks(good_stats(class_counts={"0": 1, "7": 2}), checks))["expected_classes"]
    assert bad.status == "failed" and "7" in bad.message

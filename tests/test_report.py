"""The typed run report: JSON round trip, versioning, unknown fields, and the table it prints as."""

from __future__ import annotations

import pytest

from airflow_provider_spark_predict.checks.evaluate import CheckResult
from airflow_provider_spark_predict.exceptions import JobError
from airflow_provider_spark_predict.report import REPORT_VERSION, ModelFacts, RunReport, format_report


def full_report() -> RunReport:
    return RunReport(
        run_id="20260101T000000Z-ab", engine="spark", status="failed_checks", input="table db.t partition (dt=1)",
        output="path /o partition (dt=1)", output_partition={"dt": "1"}, spec={"keys": ["pin"]},
        started_at="2026-01-01T00:00:00+00:00", finished_at="2026-01-01T00:01:00+00:00", wall_s=60.5,
        application_id="app-1", tracking_url="http://127.0.0.1:4040", master="local[2]",
        model=ModelFacts(uri="file:/m.json", flavor="xgboost", library="xgboost==3", n_features=4, classes=[0, 1]),
        rows_in=10, input_filter="a > 0", strategy={"strategy": "map", "reader": "pyarrow"}, model_loads=2,
        model_predict_s=0.25, version_path="file:/o/_spark_predict/dt=1/r", rows_out=9, duplicate_keys=0,
        null_predictions=0, score_summary={"min": 0.1, "mean": 0.5, "p50": None}, class_counts={"0": 4, "1": 5},
        previous_partition={"dt": "0"}, psi=0.3, psi_basis="class distribution of prediction",
        previous_distribution={"0": 5, "1": 5},
        checks=[CheckResult("row_parity", "failed", 9, "10 +/- 0.00%", "fail", "row_parity: FAILED: rows out 9"),
                CheckResult("drift", "warned", 0.3, 0.1, "warn", "drift: WARNING: PSI 0.3")],
        published=False, durations={"checks_s": 1.5}, report_uri="file:/s/r.json",
        staging={"model": {"uri": "file:/s/m"}},
    )


def test_round_trip_through_json_keeps_every_field() -> None:
    report = full_report()
    again = RunReport.from_json(report.to_json())
    assert again == report
    assert isinstance(again.model, ModelFacts) and isinstance(again.checks[0], CheckResult)
    assert RunReport.from_dict(report.to_dict()) == report
    assert report.to_dict()["report_version"] == REPORT_VERSION
    assert [c.name for c in again.failed_checks] == ["row_parity"]


def test_a_minimal_report_reads_with_defaults() -> None:
    report = RunReport.from_dict({"status": "error", "error": "boom"})
    assert report.status == "error" and report.checks == [] and report.model is None and not report.published


def test_newer_versions_and_unknown_fields_are_refused() -> None:
    with pytest.raises(JobError, match="version 2 is newer"):
        RunReport.from_dict({"report_version": REPORT_VERSION + 1})
    with pytest.raises(JobError, match=r"\['surprise'\]"):
        RunReport.from_dict({"surprise": 1})
    with pytest.raises(JobError, match="not JSON"):
        RunReport.from_json("{")


def test_format_report_reads_the_typed_report() -> None:
    text = format_report(full_report())
    assert "status             : failed_checks" in text
    assert "[ failed] row_parity: FAILED: rows out 9" in text
    assert "model              : file:/m.json" in text
    assert "durations (s): checks_s=1.5" in text

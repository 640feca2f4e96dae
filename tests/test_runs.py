"""Run identity, the checked-report lookup behind ``skip_if_checked`` and the ``_SUBMITTED.json`` record,
on a real ``file://`` store (no Spark needed: the reports are written here as the job would write them)."""

from __future__ import annotations

import json
import logging

from airflow_provider_spark_predict import runs
from airflow_provider_spark_predict.report import CHECKED_MARKER, report_folder
from airflow_provider_spark_predict.spec import InputSpec, ModelSpec, ScoringSpec, TargetSpec
from airflow_provider_spark_predict.staging.store import open_store

log = logging.getLogger("test_runs")


def make_spec(model: str = "file:///store/models/m-0123.joblib", keep: int = 1) -> ScoringSpec:
    return ScoringSpec(
        input=InputSpec(table="db.users", partition={"dt": "2026-01-01"}),
        model=ModelSpec(uri=model, flavor="sklearn"),
        output=TargetSpec(table="db.scores", partition={"dt": "2026-01-01"}, keep_previous_versions=keep),
        keys=["pin"],
        features=["x"],
    ).validate()


def write_checked(store, spec: ScoringSpec, **report) -> None:
    folder = report_folder(store.uri, spec.output)
    body = {"status": "succeeded", "published": True, "run_id": "r1", "spec": spec.to_dict(), **report}
    store.write_text(store.relative(f"{folder}/{CHECKED_MARKER}"), json.dumps(body))


def test_run_ids_sort_by_time_and_are_unique():
    ids = [runs.new_run_id() for _ in range(50)]
    assert len(set(ids)) == 50 and ids == sorted(ids, key=lambda i: i.split("-")[0])


def test_identity_ignores_how_many_old_versions_are_kept():
    assert runs.run_identity(make_spec(keep=1)) == runs.run_identity(make_spec(keep=5))
    assert runs.run_identity(make_spec()) != runs.run_identity(make_spec(model="file:///store/models/m-9999.joblib"))
    assert runs.run_identity(make_spec().to_dict()) == runs.run_identity(make_spec())


def test_checked_report_of_the_same_run_is_found(tmp_path):
    store = open_store(f"file://{tmp_path}/store")
    spec = make_spec()
    assert runs.find_checked_report(store, spec, log) is None
    write_checked(store, spec)
    found = runs.find_checked_report(store, spec, log)
    assert found is not None and found["run_id"] == "r1"
    assert found["checked_report_uri"].endswith(f"/reports/db.scores/dt=2026-01-01/{CHECKED_MARKER}")


def test_checked_report_of_another_model_or_an_unpublished_run_is_not_used(tmp_path, caplog):
    store = open_store(f"file://{tmp_path}/store")
    write_checked(store, make_spec())
    with caplog.at_level(logging.INFO, logger=log.name):
        assert runs.find_checked_report(store, make_spec(model="file:///store/models/m-9999.joblib"), log) is None
    assert "changed: ['model']" in caplog.text
    write_checked(store, make_spec(), published=False)
    assert runs.find_checked_report(store, make_spec(), log) is None
    folder = report_folder(store.uri, make_spec().output)
    store.write_text(store.relative(f"{folder}/{CHECKED_MARKER}"), "{not json")
    assert runs.find_checked_report(store, make_spec(), log) is None


def test_submission_record_round_trip_and_identity_guard(tmp_path):
    store = open_store(f"file://{tmp_path}/store")
    spec = make_spec()
    spec.run_id = "r7"
    spec.report_uri = f"{report_folder(store.uri, spec.output)}/r7.json"
    assert runs.recorded_submission(store, spec, log) is None
    runs.record_submission(store, spec, "application_1_0007", "yarn", log)
    record = runs.recorded_submission(store, spec, log)
    assert record is not None
    assert (record["application_id"], record["run_id"], record["master"]) == ("application_1_0007", "r7", "yarn")
    assert runs.recorded_submission(store, make_spec(model="file:///store/models/m-9999.joblib"), log) is None
    assert runs.report_status(store, spec.report_uri, log) is None
    store.write_text(store.relative(spec.report_uri), json.dumps({"status": "failed_checks"}))
    assert runs.report_status(store, spec.report_uri, log) == "failed_checks"

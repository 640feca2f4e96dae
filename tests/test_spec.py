"""Unit tests for the scoring spec: validation, safety of templated values, JSON round trip."""

from __future__ import annotations

import pytest

from airflow_provider_spark_predict.exceptions import SparkPredictError, SpecError
from airflow_provider_spark_predict.spec import (
    CheckSpec,
    InputSpec,
    ModelSpec,
    OutputsSpec,
    ScoringSpec,
    TargetSpec,
)


def make(**over) -> ScoringSpec:
    base = dict(
        input=InputSpec(table="db.users", partition={"dt": "2026-01-01"}),
        model=ModelSpec(uri="/models/m.json"),
        output=TargetSpec(table="db.scores", partition={"dt": "2026-01-01"}),
        keys=["pin"],
    )
    base.update(over)
    return ScoringSpec(**base)


def test_valid_spec_round_trips_through_json():
    spec = make(features=["a", "b"], fill_value=999999.0,
                outputs=OutputsSpec(prediction_column="class", label_column="name", label_mapping={0: "x"}))
    spec.validate()
    again = ScoringSpec.from_json(spec.to_json()).validate()
    assert again.to_dict() == spec.to_dict()
    assert again.outputs.label_mapping == {"0": "x"}
    assert set(again.checks) == {"row_parity", "unique_keys", "null_keys", "labels", "null_predictions",
                                 "expected_classes", "drift"}


@pytest.mark.parametrize(
    "value",
    ["2026-01-01'; DROP TABLE x; --", "{{ ds }}", "a/b", "x' OR '1'='1", ""],
)
def test_partition_values_that_could_inject_sql_are_refused(value):
    with pytest.raises(SpecError, match="partition"):
        make(output=TargetSpec(table="db.scores", partition={"dt": value})).validate()


@pytest.mark.parametrize("table", ["db.t; drop", "db.t.x", "`db`.t", "1db.t", "db.t--"])
def test_table_names_must_be_plain_identifiers(table):
    with pytest.raises(SpecError, match="table"):
        make(input=InputSpec(table=table, partition={"dt": "2026-01-01"})).validate()


def test_column_names_cannot_carry_backticks():
    with pytest.raises(SpecError, match="feature column"):
        make(features=["ok", "bad`) FROM x"]).validate()


def test_input_needs_exactly_one_source():
    with pytest.raises(SpecError, match="exactly one"):
        make(input=InputSpec(table="db.t", sql="select 1")).validate()
    with pytest.raises(SpecError, match="exactly one"):
        make(input=InputSpec()).validate()


def test_keys_outputs_and_partitions_must_not_clash():
    with pytest.raises(SpecError, match="key"):
        make(keys=[]).validate()
    with pytest.raises(SpecError, match="both keys and features"):
        make(features=["pin", "a"]).validate()
    with pytest.raises(SpecError, match="clash with key"):
        make(outputs=OutputsSpec(prediction_column="pin")).validate()
    with pytest.raises(SpecError, match="listed twice"):
        make(features=["a", "a"]).validate()


def test_unknown_check_and_bad_policy_are_refused():
    with pytest.raises(SpecError, match="unknown check"):
        make(checks={"nope": CheckSpec()}).validate()
    with pytest.raises(SpecError, match="policy"):
        make(checks={"drift": CheckSpec(policy="maybe")}).validate()
    with pytest.raises(SpecError, match="expected_classes"):
        make(checks={"expected_classes": CheckSpec(policy="fail")}).validate()


def test_checks_override_defaults_only_where_given():
    spec = make(checks={"drift": CheckSpec(policy="fail", threshold=0.2, warn_threshold=0.05)}).validate()
    assert spec.checks["drift"].policy == "fail" and spec.checks["drift"].threshold == 0.2
    assert spec.checks["row_parity"].policy == "fail"


def test_strategy_and_flavor_choices():
    from airflow_provider_spark_predict.spec import StrategySpec

    with pytest.raises(SpecError, match="strategy"):
        make(strategy=StrategySpec(name="shuffle")).validate()
    with pytest.raises(SpecError, match="flavor"):
        make(model=ModelSpec(uri="m", flavor="torch")).validate()
    with pytest.raises(SpecError, match="reader"):
        make(strategy=StrategySpec(reader="jvm")).validate()
    with pytest.raises(SpecError, match="needs strategy 'map'"):
        make(strategy=StrategySpec(name="grouped", reader="pyarrow")).validate()
    assert make().validate().strategy.reader == "auto"
    old = make(strategy=StrategySpec(name="files")).validate().strategy  # the earlier name still works
    assert (old.name, old.reader) == ("map", "pyarrow")
    again = ScoringSpec.from_json(make(strategy=StrategySpec(reader="spark")).validate().to_json()).validate()
    assert again.strategy.reader == "spark"


def test_errors_are_one_family():
    assert issubclass(SpecError, SparkPredictError)
    with pytest.raises(SpecError, match="missing"):
        ScoringSpec.from_dict({"model": {"uri": "x"}})

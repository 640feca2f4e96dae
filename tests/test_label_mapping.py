"""Label maps as people write them, and the ``labels`` and ``null_keys`` checks."""

from __future__ import annotations

import numpy as np
import pytest

from airflow_provider_spark_predict.checks.evaluate import evaluate_checks, failed_checks
from airflow_provider_spark_predict.exceptions import SpecError
from airflow_provider_spark_predict.labels import (
    class_key,
    label_for,
    labels_of,
    normalise_label_mapping,
    uncovered_classes,
)
from airflow_provider_spark_predict.report import RunReport
from airflow_provider_spark_predict.spec import (
    DEFAULT_CHECKS,
    CheckSpec,
    InputSpec,
    ModelSpec,
    OutputsSpec,
    ScoringSpec,
    TargetSpec,
)

ORIGIN = {"0.0": "运营型产品", "1.0": "小金库", "2.0": "理财"}


@pytest.mark.parametrize("key", [0, "0", "0.0", 0.0, np.int64(0), np.float32(0.0), " 0 ", "-0"])
def test_every_spelling_of_class_zero_is_class_zero(key):
    assert class_key(key) == "0"


@pytest.mark.parametrize("key,canon", [("cat", "cat"), ("0.5", "0.5"), (2.5, "2.5"), (True, "True"),
                                       ("1e3", "1e3"), (np.str_("stay"), "stay"), ("12", "12")])
def test_other_values_keep_their_text(key, canon):
    assert class_key(key) == canon


def test_origin_mapping_with_float_keys_labels_every_integer_class():
    mapping = normalise_label_mapping(ORIGIN)
    assert mapping == {"0": "运营型产品", "1": "小金库", "2": "理财"}
    assert [label_for(mapping, c) for c in (0, np.int32(1), 2.0, "2")] == ["运营型产品", "小金库", "理财", "理财"]
    assert labels_of(mapping, [0, 1, 2, 3]) == ["运营型产品", "小金库", "理财", None]


def test_string_classes_map_by_their_own_value():
    mapping = normalise_label_mapping({"churn": "Leaving", "stay": "Staying"})
    assert label_for(mapping, np.str_("churn")) == "Leaving" and label_for(mapping, "other") is None


def test_conflicting_spellings_of_one_class_are_refused():
    with pytest.raises(SpecError, match=r"keys '0' and 0.0 both mean class 0"):
        normalise_label_mapping({"0": "a", 0.0: "b"})
    assert normalise_label_mapping({"0": "a", 0.0: "a"}) == {"0": "a"}


def test_outputs_spec_normalises_the_mapping():
    outputs = OutputsSpec(label_column="label", label_mapping=dict(ORIGIN))
    outputs.validate()
    assert outputs.label_mapping == {"0": "运营型产品", "1": "小金库", "2": "理财"}


def test_uncovered_classes():
    mapping = normalise_label_mapping({0: "a", 1: "b"})
    assert uncovered_classes(mapping, ["0", "1", "2", "10", None]) == ["10", "2"]
    assert uncovered_classes(mapping, [0.0, 1]) == []


def test_default_checks_include_labels_and_null_keys():
    assert DEFAULT_CHECKS["labels"]["policy"] == "fail" and DEFAULT_CHECKS["null_keys"]["policy"] == "fail"
    spec = ScoringSpec(input=InputSpec(table="db.t"), model=ModelSpec(uri="m.pkl"),
                       output=TargetSpec(table="db.o", partition={"dt": "2026-01-01"}), keys=["k"],
                       checks={"null_keys": CheckSpec(policy="warn")}).validate()
    assert spec.checks["null_keys"].policy == "warn" and spec.checks["labels"].policy == "fail"


def _checks(**policies):
    return {name: CheckSpec(policy=policy) for name, policy in policies.items()}


def _report(**facts):
    return RunReport(**facts)


def test_labels_check_fails_naming_the_classes_not_covered():
    [result] = evaluate_checks(_report(uncovered_labels=["3", "7"]), _checks(labels="fail"))
    assert result.status == "failed" and result.value == ["3", "7"]
    assert "predicted class(es) ['3', '7'] have no label in label_mapping" in result.message
    assert failed_checks([result])[0].name == "labels"
    [result] = evaluate_checks(_report(uncovered_labels=[]), _checks(labels="fail"))
    assert result.status == "passed"
    [result] = evaluate_checks(_report(), _checks(labels="fail"))
    assert result.status == "skipped"  # no label column written: the stats code leaves the fact out
    [result] = evaluate_checks(_report(uncovered_labels=["3"]), _checks(labels="warn"))
    assert result.status == "warned"
    assert evaluate_checks(_report(uncovered_labels=["3"]), _checks(labels="off")) == []


def test_null_keys_check():
    [result] = evaluate_checks(_report(null_keys=2), _checks(null_keys="fail"))
    assert result.status == "failed" and result.value == 2
    assert result.message == "null_keys: FAILED: 2 rows have a NULL key (allowed 0)"
    [result] = evaluate_checks(_report(null_keys=0), _checks(null_keys="fail"))
    assert result.status == "passed"
    [result] = evaluate_checks(_report(null_keys=5), _checks(null_keys="warn"))
    assert result.status == "warned"
    assert evaluate_checks(_report(null_keys=5), _checks(null_keys="off")) == []

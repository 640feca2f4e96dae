"""OpenLineage of a scoring run: inputs (input partition, model file, environment archive), output partition.

The OpenLineage provider (apache-airflow-providers-openlineage) is NOT installed here: the real path tested
is "no provider -> None, the operator still works". The conversion to ``OperatorLineage``/``Dataset`` is
tested against a tiny fake of those two classes put into ``sys.modules`` (said so in that test).
"""

from __future__ import annotations

import dataclasses
import importlib.util
import sys
import types
from datetime import datetime

import pytest

from airflow_provider_spark_predict.lineage import lineage_datasets, operator_lineage
from airflow_provider_spark_predict.spec import InputSpec, ModelSpec, ScoringSpec, TargetSpec

REPORT = {
    "model": {"uri": "hdfs://nn:8020/spark-predict/models/0123456789abcdef/model.joblib"},
    "staging": {"environment": {"uri": "hdfs://nn:8020/spark-predict/environments/venv-00aa.tar.gz"}},
}


def table_spec() -> ScoringSpec:
    return ScoringSpec(
        input=InputSpec(table="db.users", partition={"dt": "2026-01-01"}),
        model=ModelSpec(uri="/models/model.joblib"),
        output=TargetSpec(table="db.scores", partition={"dt": "2026-01-01"}),
        keys=["pin"],
    ).validate()


def test_plain_structure_for_tables():
    found = lineage_datasets(table_spec(), REPORT)
    assert found["inputs"] == [
        {"namespace": "hive", "name": "db.users", "role": "input", "partition": {"dt": "2026-01-01"}},
        {"namespace": "hdfs://nn:8020", "name": "/spark-predict/models/0123456789abcdef/model.joblib",
         "role": "model"},
        {"namespace": "hdfs://nn:8020", "name": "/spark-predict/environments/venv-00aa.tar.gz",
         "role": "environment"},
    ]
    assert found["outputs"] == [
        {"namespace": "hive", "name": "db.scores", "role": "output", "partition": {"dt": "2026-01-01"}}
    ]


def test_plain_structure_for_paths_and_no_environment():
    spec = ScoringSpec(
        input=InputSpec(path="file:///data/in", partition={"dt": "2026-01-02"}),
        model=ModelSpec(uri="/models/m.json"),
        output=TargetSpec(path="/data/out", partition={"dt": "2026-01-02"}),
        keys=["pin"],
    ).validate()
    found = lineage_datasets(spec, {})
    assert found["inputs"][0] == {"namespace": "file", "name": "/data/in", "role": "input",
                                  "partition": {"dt": "2026-01-02"}}
    assert found["inputs"][1] == {"namespace": "file", "name": "/models/m.json", "role": "model"}
    assert len(found["inputs"]) == 2  # no environment archive (driver's interpreter)
    assert found["outputs"][0]["name"] == "/data/out"


def test_without_openlineage_provider_returns_none():
    assert importlib.util.find_spec("airflow.providers.openlineage") is None, "the provider is installed here"
    assert operator_lineage(table_spec(), REPORT) is None


def test_operator_method_graceful_without_provider():
    from airflow.sdk import DAG

    from airflow_provider_spark_predict.operators.predict import SparkPredictOperator

    with DAG("lineage_t", schedule=None, start_date=datetime(2026, 1, 1)):
        op = SparkPredictOperator(task_id="s", model="/m.joblib", input_table="db.users",
                                  input_partition={"dt": "2026-01-01"}, keys=["pin"], output_table="db.scores")
    assert op.get_openlineage_facets_on_complete(None) is None  # not executed yet
    op._spec, op._report = table_spec(), REPORT
    assert op.get_openlineage_facets_on_complete(None) is None  # provider missing


def test_conversion_with_a_fake_openlineage(monkeypatch):
    """FAKE: minimal stand-ins of OperatorLineage and Dataset, since the provider is not installed."""

    @dataclasses.dataclass
    class Dataset:
        namespace: str
        name: str

    @dataclasses.dataclass
    class OperatorLineage:
        inputs: list
        outputs: list

    extractors = types.ModuleType("airflow.providers.openlineage.extractors")
    extractors.OperatorLineage = OperatorLineage
    facet = types.ModuleType("airflow.providers.common.compat.openlineage.facet")
    facet.Dataset = Dataset
    monkeypatch.setitem(sys.modules, "airflow.providers.openlineage", types.ModuleType("airflow.providers.openlineage"))
    monkeypatch.setitem(sys.modules, "airflow.providers.openlineage.extractors", extractors)
    monkeypatch.setitem(sys.modules, "airflow.providers.common.compat.openlineage.facet", facet)
    lineage = operator_lineage(table_spec(), REPORT)
    assert lineage == OperatorLineage(
        inputs=[Dataset("hive", "db.users"),
                Dataset("hdfs://nn:8020", "/spark-predict/models/0123456789abcdef/model.joblib"),
                Dataset("hdfs://nn:8020", "/spark-predict/environments/venv-00aa.tar.gz")],
        outputs=[Dataset("hive", "db.scores")],
    )


@pytest.mark.parametrize("uri,expected", [
    ("s3a://bucket/models/m.joblib", {"namespace": "s3a://bucket", "name": "/models/m.joblib"}),
    ("file:///opt/m.joblib", {"namespace": "file", "name": "/opt/m.joblib"}),
])
def test_file_dataset_naming(uri, expected):
    from airflow_provider_spark_predict.lineage import file_dataset

    assert file_dataset(uri, "model") == {**expected, "role": "model"}

"""``airflow_provider_spark_predict.local`` is the deprecated name of ``sparkml`` for one release."""

from __future__ import annotations

import importlib
import sys

import pytest


def test_old_package_name_warns_and_re_exports(monkeypatch):
    monkeypatch.delitem(sys.modules, "airflow_provider_spark_predict.local", raising=False)
    with pytest.warns(DeprecationWarning, match="airflow_provider_spark_predict.local is deprecated.*sparkml"):
        alias = importlib.import_module("airflow_provider_spark_predict.local")
    from airflow_provider_spark_predict import sparkml

    assert alias.load_pipeline is sparkml.load_pipeline
    assert alias.LocalPipelineModel is sparkml.LocalPipelineModel
    with pytest.raises(AttributeError):
        alias.no_such_name  # noqa: B018

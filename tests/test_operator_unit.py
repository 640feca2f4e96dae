"""The operator's templated fields, spec building, provider registration and import hygiene."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import datetime

import pytest

from airflow_provider_spark_predict.exceptions import SpecError


def make_operator(**kw):
    from airflow.sdk import DAG

    from airflow_provider_spark_predict.operators.predict import SparkPredictOperator

    with DAG("t", schedule=None, start_date=datetime(2026, 1, 1)):
        args = dict(
            task_id="score",
            model="/models/{{ params.model }}.json",
            input_table="db.users",
            input_partition={"dt": "{{ ds }}"},
            keys=["pin"],
            output_table="db.scores",
            params={"model": "m17"},
        )
        args.update(kw)
        return SparkPredictOperator(**args)


def test_ds_renders_into_input_and_output_partitions():
    op = make_operator()
    assert op.output_partition == {"dt": "{{ ds }}"}  # the default
    op.render_template_fields({"ds": "2026-03-04", "params": {"model": "m17"}})
    spec = op.build_spec()
    assert spec.input.partition == {"dt": "2026-03-04"}
    assert spec.output.partition == {"dt": "2026-03-04"}
    assert spec.model.uri == "/models/m17.json"


def test_macros_render_for_yesterday():
    from airflow.sdk.execution_time import macros

    op = make_operator(input_partition={"dt": "{{ macros.ds_add(ds, -1) }}"})
    op.render_template_fields({"ds": "2026-03-04", "macros": macros, "params": {"model": "m"}})
    assert op.build_spec().input.partition == {"dt": "2026-03-03"}


def test_unsafe_rendered_value_is_refused_before_submit():
    op = make_operator(output_partition={"dt": "{{ params.day }}"})
    op.render_template_fields({"ds": "2026-03-04", "params": {"model": "m", "day": "x' OR 1=1 --"}})
    with pytest.raises(SpecError, match="partition value"):
        op.build_spec()


def test_template_fields_are_constructor_arguments_assigned_unchanged():
    import inspect

    from airflow_provider_spark_predict.operators.predict import SparkPredictOperator

    params = inspect.signature(SparkPredictOperator.__init__).parameters
    op = make_operator()
    for name in SparkPredictOperator.template_fields:
        assert name in params, name
    assert op.input_partition == {"dt": "{{ ds }}"}


def test_engine_in_process_and_the_deprecated_local_spelling():
    from airflow_provider_spark_predict.operators.predict import ENGINE_IN_PROCESS

    assert make_operator(engine="in_process").engine == ENGINE_IN_PROCESS == "in_process"
    assert make_operator().engine == "spark"
    with pytest.warns(DeprecationWarning, match="engine='local' is deprecated.*engine='in_process'"):
        op = make_operator(engine="local")
    assert op.engine == "in_process"
    with pytest.raises(ValueError, match="engine must be 'spark' or 'in_process', got 'jvm'"):
        make_operator(engine="jvm")


def test_in_process_engine_calls_the_hook_without_spark(monkeypatch):
    """The operator routes engine="in_process" to the hook's run_in_process (the hook's run is not called)."""
    from airflow_provider_spark_predict.hooks.predict import SparkPredictHook

    calls = []
    monkeypatch.setattr(SparkPredictHook, "run_local", lambda self, spec: calls.append("in_process") or
                        {"status": "succeeded", "checks": []})
    monkeypatch.setattr(SparkPredictHook, "run", lambda self, spec, skip_if_checked=False: calls.append("spark"))
    op = make_operator(engine="in_process", model="/m.joblib", input_table=None, input_path="/in",
                       output_table=None, output_path="/out", output_partition={"dt": "2026-01-01"},
                       input_partition={"dt": "2026-01-01"})
    assert op.execute({})["status"] == "succeeded"
    assert calls == ["in_process"]


def test_provider_info_and_entry_point():
    from importlib.metadata import entry_points

    from airflow_provider_spark_predict import get_provider_info

    info = get_provider_info()
    assert info["package-name"] == "airflow-provider-spark-predict"
    eps = [e for e in entry_points(group="apache_airflow_provider") if e.value.startswith("airflow_provider_spark")]
    assert eps and eps[0].load()() == info


def test_airflow_providers_list_shows_the_provider():
    out = subprocess.run(
        [os.path.join(os.path.dirname(sys.executable), "airflow"), "providers", "list", "-o", "json"],
        capture_output=True, text=True, timeout=300,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    names = [p["package_name"] for p in json.loads(out.stdout[out.stdout.index("["):])]
    assert "airflow-provider-spark-predict" in names


@pytest.mark.parametrize(
    "module",
    [
        "airflow_provider_spark_predict.operators.predict",
        "airflow_provider_spark_predict.hooks.predict",
        "airflow_provider_spark_predict.deploy",
        "airflow_provider_spark_predict.runs",
        "airflow_provider_spark_predict.staging.code",
        "airflow_provider_spark_predict.local",
        "airflow_provider_spark_predict.sensors.partition",
        "airflow_provider_spark_predict.staging",
    ],
)
def test_airflow_side_imports_no_heavy_libraries(module):
    code = (
        f"import sys, {module}\n"
        "bad = sorted(m for m in ('pyspark', 'pandas', 'pyarrow', 'numpy', 'xgboost', 'sklearn') if m in sys.modules)\n"
        "print(','.join(bad))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "", f"{module} imported {out.stdout.strip()}"


def test_pyspark_python_files_match_its_jars():
    """The pyspark-client trap: its files overwrite pyspark's; versions must agree with the jars."""
    import glob

    import pyspark

    jars = glob.glob(os.path.join(os.path.dirname(pyspark.__file__), "jars", "spark-core_*.jar"))
    assert jars, "pyspark jars missing"
    jar_version = os.path.basename(jars[0]).rsplit("-", 1)[1].removesuffix(".jar")
    assert pyspark.__version__ == jar_version, (
        f"pyspark python files say {pyspark.__version__} but the jars are {jar_version}: "
        "reinstall pyspark last (make venv does)"
    )

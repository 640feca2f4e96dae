"""Flavor ``spark_pipeline``: a saved Spark ML PipelineModel scored natively with ``transform``.

The outputs are mapped onto the same columns as the other flavors (prediction, score = probability of
the predicted class, probability array, label), so the write, checks and report are the same.
"""

from __future__ import annotations

from typing import Any

from airflow_provider_spark_predict.exceptions import ModelError
from airflow_provider_spark_predict.job.reader import quote
from airflow_provider_spark_predict.spec import OutputsSpec

_INPUT_PARAMS = ("inputCol", "inputCols", "featuresCol")
_OUTPUT_PARAMS = ("outputCol", "outputCols", "predictionCol", "probabilityCol", "rawPredictionCol")


def load_pipeline(uri: str) -> Any:
    """Load the PipelineModel folder at ``uri`` (any Hadoop URI), naming the folder on failure."""
    from pyspark.ml import PipelineModel

    try:
        return PipelineModel.load(uri)
    except Exception as err:  # noqa: BLE001
        first = str(err).splitlines()[0][:500]
        raise ModelError(f"model {uri} is not a readable Spark ML PipelineModel: {first}") from None


def _param_values(stage: Any, names: tuple[str, ...]) -> list[str]:
    out: list[str] = []
    for name in names:
        if stage.hasParam(name) and stage.isDefined(stage.getParam(name)):
            value = stage.getOrDefault(stage.getParam(name))
            out.extend(value if isinstance(value, list) else [value])
    return out


def input_columns(model: Any) -> list[str]:
    """Columns the pipeline reads from its input (inputs of stages not produced by earlier stages)."""
    produced: set[str] = set()
    needed: list[str] = []
    for stage in model.stages:
        for col in _param_values(stage, _INPUT_PARAMS):
            if col not in produced and col not in needed:
                needed.append(col)
        produced.update(_param_values(stage, _OUTPUT_PARAMS))
    return needed


def classes_of(model: Any) -> list[int] | None:
    """Class indices of the final predictor (``numClasses``), ``None`` for regressors."""
    last = model.stages[-1]
    n = getattr(last, "numClasses", None)
    return list(range(int(n))) if n else None


def transform(model: Any, df: Any, keys: list[str], outputs: OutputsSpec, classes: list[int] | None) -> Any:
    """Run ``transform`` and select keys + the configured output columns."""
    from pyspark.ml.functions import vector_to_array
    from pyspark.sql import functions as F

    last = model.stages[-1]
    pred_col = last.getOrDefault(last.getParam("predictionCol"))
    out = model.transform(df)
    cols = [F.col(quote(k)) for k in keys]
    if classes is not None:
        prob_col = last.getOrDefault(last.getParam("probabilityCol"))
        probs = vector_to_array(F.col(quote(prob_col)))
        cols.append(F.col(quote(pred_col)).cast("int").alias(outputs.prediction_column))
        if outputs.score_column:
            cols.append(F.array_max(probs).alias(outputs.score_column))
        if outputs.probability_column:
            cols.append(probs.alias(outputs.probability_column))
        if outputs.label_column:
            mapping = outputs.label_mapping or {}
            expr = F.create_map(*[x for k, v in mapping.items() for x in (F.lit(int(k)), F.lit(v))])
            cols.append(expr[F.col(quote(pred_col)).cast("int")].alias(outputs.label_column))
    else:
        cols.append(F.col(quote(pred_col)).cast("double").alias(outputs.prediction_column))
        if outputs.score_column:
            cols.append(F.col(quote(pred_col)).cast("double").alias(outputs.score_column))
    return out.select(*cols)

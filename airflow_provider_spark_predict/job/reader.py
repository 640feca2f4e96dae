"""Read the input rows, check that keys and features exist, and cast features to floats."""

from __future__ import annotations

from typing import Any

from airflow_provider_spark_predict.exceptions import InputError
from airflow_provider_spark_predict.run.layout import partition_folder
from airflow_provider_spark_predict.spec import InputSpec

NUMERIC_TYPES = ("tinyint", "smallint", "int", "bigint", "float", "double", "boolean")


def quote(name: str) -> str:
    """Back-quote a column name for Spark SQL (names were validated to contain no backtick)."""
    return f"`{name}`"


def partition_predicate(partition: dict[str, str]) -> str:
    """Return ``dt = '2026-01-01' AND ...`` for a validated partition spec."""
    return " AND ".join(f"{quote(k)} = '{v}'" for k, v in partition.items())


def read_input(spark: Any, spec: InputSpec) -> Any:
    """Return the input DataFrame of ``spec`` (not yet column-checked, ``filter`` not yet applied: the
    row-parity check compares the output with the whole input partition).

    :param spark: the SparkSession
    :param spec: the input part of the scoring spec
    """
    if spec.table:
        if not spark.catalog.tableExists(spec.table):
            raise InputError(f"input table {spec.table} does not exist")
        df = spark.table(spec.table)
        if spec.partition:
            missing = [k for k in spec.partition if k not in df.columns]
            if missing:
                raise InputError(f"input table {spec.table} has no partition column(s) {missing}")
            df = df.where(partition_predicate(spec.partition))
    elif spec.path:
        path = partition_folder(spec.path, spec.partition)
        try:
            df = spark.read.format(spec.format).load(path)
        except Exception as err:
            if "PATH_NOT_FOUND" in str(err) or "does not exist" in str(err):
                raise InputError(f"input partition {spec.describe()} does not exist ({path})") from None
            raise
    else:
        df = spark.sql(spec.sql)
    return df


def feature_dtype(df: Any, features: list[str]) -> str:
    """Return ``float`` when every feature column is float32 already, else ``double``
    (:func:`airflow_provider_spark_predict.models.frames.matrix_type`). ``matrix`` models only."""
    from airflow_provider_spark_predict.models.frames import matrix_type

    types = dict(df.dtypes)
    return matrix_type(types[f] for f in features)


def cast_features(
    df: Any, keys: list[str], features: list[str], dtype: str, on_invalid: str, fill_value: float | None, what: str
) -> Any:
    """Select keys + features with every feature cast to ``dtype``.

    Cast rule: numeric and boolean columns are cast directly. String (or other) columns are cast with
    ``try_cast``: a value that is not a number becomes null, which scoring treats as missing (filled with
    ``fill_value``, or NaN). With ``on_invalid="fail"`` such a value fails the run instead, naming the
    column and a sample value. Nulls are never an error.

    :param df: the input DataFrame
    :param keys: key columns, passed through unchanged
    :param features: feature columns
    :param dtype: ``float`` or ``double``
    :param on_invalid: ``fill`` or ``fail``
    :param fill_value: value used for missing features (applied in the Python worker)
    :param what: description of the input for the message
    """
    from pyspark.sql import functions as F

    types = dict(df.dtypes)
    cols = [F.col(quote(k)) for k in keys]
    non_numeric = [f for f in features if types[f] not in NUMERIC_TYPES]
    if non_numeric and on_invalid == "fail":
        bad_exprs = [
            F.sum((F.col(quote(f)).isNotNull() & F.col(quote(f)).try_cast(dtype).isNull()).cast("long")).alias(f)
            for f in non_numeric
        ]
        counts = df.agg(*bad_exprs).first().asDict()
        bad = {f: n for f, n in counts.items() if n}
        if bad:
            col = next(iter(bad))
            sample = df.where(F.col(quote(col)).isNotNull() & F.col(quote(col)).try_cast(dtype).isNull())
            value = sample.select(quote(col)).first()[0]
            raise InputError(
                f"{what}: feature column(s) hold values that are not numbers: {bad} "
                f"(e.g. {col}={value!r}); on_invalid='fail'"
            )
    for f in features:
        c = F.col(quote(f))
        if types[f] == dtype:
            cols.append(c)
        elif f in non_numeric:
            cols.append(c.try_cast(dtype).alias(f))
        else:
            cols.append(c.cast(dtype).alias(f))
    return df.select(*cols)


def select_features(df: Any, keys: list[str], features: list[str]) -> Any:
    """Select keys + features as they are, for a ``frame`` model: no cast, no ``try_cast`` (strings stay
    strings, numeric types are kept; the adapter's ``prepare`` builds the DataFrame from Arrow).

    :param df: the input DataFrame
    :param keys: key columns
    :param features: feature columns, in the model's order
    """
    return df.select(*[quote(c) for c in [*keys, *features]])


def cast_rules(adapter: Any, df: Any, features: list[str]) -> list[dict[str, Any]]:
    """What the model is given per feature column of ``df``, for the run report
    (:func:`airflow_provider_spark_predict.models.frames.cast_rules` on the Arrow types Spark hands over).

    :param adapter: the loaded model
    :param df: the input DataFrame
    :param features: feature columns
    """
    from pyspark.sql import types as T
    from pyspark.sql.pandas.types import to_arrow_schema

    from airflow_provider_spark_predict.models.frames import cast_rules as rules

    fields = {f.name: f for f in df.schema.fields}
    schema = to_arrow_schema(T.StructType([fields[f] for f in dict.fromkeys(features)]))
    return rules(adapter, schema, features)

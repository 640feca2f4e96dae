"""The scoring spec: the one contract between the Airflow side and the Spark job.

A :class:`ScoringSpec` is a versioned, JSON-serialisable description of one scoring run. The operator
builds it from its (templated) arguments, :meth:`ScoringSpec.validate` checks it before anything is
submitted, the hook writes it as JSON next to the run, and the job reads it back with
:meth:`ScoringSpec.from_dict`. Everything that ends up inside SQL text (table names, partition keys and
values, column names) is validated here, so a templated value cannot inject SQL.
"""

from __future__ import annotations

import dataclasses
import json
import re
from dataclasses import dataclass, field
from typing import Any

from airflow_provider_spark_predict.exceptions import SpecError
from airflow_provider_spark_predict.labels import normalise_label_mapping

SPEC_VERSION = 1

_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_TABLE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?$")
_PARTITION_VALUE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_\-:.+ ]{0,127}$")
_COLUMN_FORBIDDEN = re.compile(r"[`\x00-\x1f]")

FLAVORS = ("auto", "sklearn", "xgboost", "lightgbm", "spark_pipeline")
STRATEGIES = ("map", "grouped", "files")
READERS = ("auto", "spark", "pyarrow")
POLICIES = ("fail", "warn", "off")
ON_INVALID = ("fill", "fail")
INPUT_FORMATS = ("parquet", "orc")


def validate_table_name(name: str, what: str = "table") -> str:
    """Return ``name`` if it is a plain ``[db.]table`` identifier, else raise :class:`SpecError`.

    :param name: the table name
    :param what: what the name is for, used in the message
    """
    if not isinstance(name, str) or not _TABLE.match(name):
        raise SpecError(f"{what} name {name!r} is not a plain [database.]table identifier ([A-Za-z0-9_])")
    return name


def validate_partition(partition: dict[str, Any], what: str = "partition") -> dict[str, str]:
    """Validate a partition spec such as ``{"dt": "2026-01-01"}`` and return it with string values.

    :param partition: partition column -> value
    :param what: what the partition is for, used in the message
    """
    if not isinstance(partition, dict) or not partition:
        raise SpecError(f"{what} must be a non-empty dict of partition column -> value, got {partition!r}")
    out: dict[str, str] = {}
    for key, value in partition.items():
        if not isinstance(key, str) or not _IDENT.match(key):
            raise SpecError(f"{what} column {key!r} is not a plain identifier")
        text = str(value)
        if not _PARTITION_VALUE.match(text):
            raise SpecError(
                f"{what} value {text!r} for column {key!r} contains characters that are not allowed "
                "(letters, digits, '_', '-', ':', '.', '+' and space only); was a template left unrendered?"
            )
        out[key] = text
    return out


def validate_column(name: str, what: str = "column") -> str:
    """Return ``name`` if it can be safely back-quoted in Spark SQL, else raise :class:`SpecError`."""
    if not isinstance(name, str) or not name or _COLUMN_FORBIDDEN.search(name):
        raise SpecError(f"{what} name {name!r} is empty or contains a backtick/control character")
    return name


def _check_choice(value: str, choices: tuple[str, ...], what: str) -> str:
    if value not in choices:
        raise SpecError(f"{what} must be one of {', '.join(choices)}; got {value!r}")
    return value


@dataclass
class InputSpec:
    """Where the rows to score come from: exactly one of ``table``, ``sql`` or ``path``.

    :param table: Hive/metastore table ``db.table``
    :param partition: partition to read, e.g. ``{"dt": "2026-01-01"}`` (table or path input)
    :param sql: a query returning the keys and features (no partition filter is added)
    :param path: a parquet/ORC folder laid out as ``<path>/dt=<value>/``
    :param format: file format of ``path`` input
    :param filter: optional SQL boolean expression applied to the input rows (e.g. ``active = 1``)
    """

    table: str | None = None
    partition: dict[str, str] = field(default_factory=dict)
    sql: str | None = None
    path: str | None = None
    format: str = "parquet"
    filter: str | None = None

    def validate(self) -> None:
        given = [k for k in ("table", "sql", "path") if getattr(self, k)]
        if len(given) != 1:
            raise SpecError(f"input needs exactly one of table, sql or path; got {given or 'none'}")
        if self.table:
            validate_table_name(self.table, "input table")
        if self.partition:
            self.partition = validate_partition(self.partition, "input partition")
        if self.path:
            _check_choice(self.format, INPUT_FORMATS, "input format")
        if self.filter is not None and (";" in self.filter or "--" in self.filter):
            raise SpecError(f"input filter {self.filter!r} must be a single boolean expression")

    def describe(self) -> str:
        """Return a short human-readable description (for logs and errors)."""
        where = ", ".join(f"{k}={v}" for k, v in self.partition.items())
        if self.table:
            return f"table {self.table}" + (f" partition ({where})" if where else "")
        if self.path:
            return f"path {self.path}" + (f" partition ({where})" if where else "")
        return "SQL query"


@dataclass
class ModelSpec:
    """The model to score with.

    :param uri: a file (joblib/pickle, XGBoost JSON/UBJ, LightGBM text) or a Spark ML PipelineModel folder
    :param flavor: ``auto`` (from the file), ``sklearn``, ``xgboost``, ``lightgbm`` or ``spark_pipeline``
    """

    uri: str = ""
    flavor: str = "auto"

    def validate(self) -> None:
        if not self.uri:
            raise SpecError("model uri is required")
        _check_choice(self.flavor, FLAVORS, "model flavor")


@dataclass
class OutputsSpec:
    """Which columns the scoring adds.

    :param prediction_column: predicted class (argmax of the probabilities) or regression value
    :param score_column: probability of the predicted class (classifiers) - ``None`` to omit
    :param probability_column: all class probabilities as ``array<double>`` - ``None`` to omit
    :param label_column: business label from ``label_mapping`` - ``None`` to omit
    :param label_mapping: class -> business name. Keys ``0``, ``"0"``, ``"0.0"`` and ``0.0`` all mean
        class 0 and a string class label maps by its own value: validation rewrites the keys to their
        canonical text (:func:`airflow_provider_spark_predict.labels.class_key`); look labels up with
        :func:`airflow_provider_spark_predict.labels.label_for`
    :param score_column_explicit: the user asked for ``score_column`` (not the default): a classifier
        without probabilities then fails instead of omitting the column
    """

    prediction_column: str = "prediction"
    score_column: str | None = "score"
    probability_column: str | None = None
    label_column: str | None = None
    label_mapping: dict[str, str] | None = None
    score_column_explicit: bool = False

    def validate(self) -> None:
        names = [n for n in self.columns() if n]
        for n in names:
            validate_column(n, "output column")
        if len(set(names)) != len(names):
            raise SpecError(f"output columns must be distinct; got {names}")
        if self.label_column and not self.label_mapping:
            raise SpecError("label_column needs a label_mapping (class -> business name)")
        if self.label_mapping is not None:
            if not isinstance(self.label_mapping, dict):
                raise SpecError(f"label_mapping must be a dict of class -> label, got {type(self.label_mapping).__name__}")
            self.label_mapping = normalise_label_mapping(self.label_mapping)

    def columns(self) -> list[str]:
        """Return the output column names in order (omitted ones excluded)."""
        cols = [self.prediction_column, self.score_column, self.probability_column, self.label_column]
        return [c for c in cols if c]


@dataclass
class TargetSpec:
    """Where the scored partition goes: a Hive table or a path, plus the partition to replace.

    :param table: Hive table ``db.table`` (created if missing, ``STORED AS PARQUET``)
    :param path: a folder laid out as ``<path>/dt=<value>/``
    :param partition: the partition written, e.g. ``{"dt": "2026-01-01"}``; it is replaced as a whole
    :param keep_previous_versions: how many superseded versions of a partition folder to keep
    """

    table: str | None = None
    path: str | None = None
    partition: dict[str, str] = field(default_factory=dict)
    keep_previous_versions: int = 1

    def validate(self) -> None:
        if bool(self.table) == bool(self.path):
            raise SpecError("output needs exactly one of table or path")
        if self.table:
            validate_table_name(self.table, "output table")
        self.partition = validate_partition(self.partition, "output partition")
        if self.keep_previous_versions < 0:
            raise SpecError("keep_previous_versions must be >= 0")

    def describe(self) -> str:
        where = ", ".join(f"{k}={v}" for k, v in self.partition.items())
        return f"{'table ' + self.table if self.table else 'path ' + str(self.path)} partition ({where})"


@dataclass
class StrategySpec:
    """How rows reach the model.

    :param name: ``map`` (mapInArrow, no shuffle, default) or ``grouped`` (applyInPandas over N groups);
        ``files`` is the earlier name of ``map`` with ``reader="pyarrow"`` and still accepted
    :param reader: ``map`` only: who reads the input. ``auto`` (default): the Python workers read the
        parquet files with pyarrow when that gives the same result as Spark (a plain parquet partition with
        numeric features, no query or filter, pyarrow can open the files on an executor), else Spark;
        ``spark``: always Spark's reader; ``pyarrow``: the Python workers, or fail saying why not
    :param batch_rows: Arrow batch size; ``None`` derives it from the row width (bounded memory)
    :param num_groups: grouped only: number of groups; ``None`` derives it from the input size
    :param target_group_rows: grouped only: rows per group used to derive ``num_groups``
    """

    name: str = "map"
    batch_rows: int | None = None
    num_groups: int | None = None
    target_group_rows: int = 200_000
    reader: str = "auto"

    def validate(self) -> None:
        _check_choice(self.name, STRATEGIES, "strategy")
        _check_choice(self.reader, READERS, "reader")
        if self.name == "files":
            self.name, self.reader = "map", "pyarrow"
        if self.name == "grouped" and self.reader == "pyarrow":
            raise SpecError("reader='pyarrow' needs strategy 'map' (the grouped strategy shuffles Spark's rows)")
        if self.batch_rows is not None and self.batch_rows < 1:
            raise SpecError("batch_rows must be >= 1")
        if self.num_groups is not None and self.num_groups < 1:
            raise SpecError("num_groups must be >= 1")
        if self.target_group_rows < 1:
            raise SpecError("target_group_rows must be >= 1")


@dataclass
class CheckSpec:
    """One result check and its policy (``fail`` the task, ``warn`` in the log, or ``off``)."""

    policy: str = "fail"
    threshold: float | None = None
    warn_threshold: float | None = None
    values: list[Any] | None = None

    def validate(self, name: str) -> None:
        _check_choice(self.policy, POLICIES, f"check {name} policy")


DEFAULT_CHECKS: dict[str, dict[str, Any]] = {
    # rows out == rows in, within a relative tolerance
    "row_parity": {"policy": "fail", "threshold": 0.0},
    # every non-NULL key appears exactly once in the written partition
    "unique_keys": {"policy": "fail"},
    # no row has a NULL key (fact null_keys: rows with any key column NULL)
    "null_keys": {"policy": "fail"},
    # every predicted class has a label in label_mapping (fact uncovered_labels; skipped without a label column)
    "labels": {"policy": "fail"},
    # fraction of null/NaN predictions at most threshold
    "null_predictions": {"policy": "fail", "threshold": 0.0},
    # predicted classes must be a subset of values (off unless values are given)
    "expected_classes": {"policy": "off", "values": None},
    # PSI of the score/prediction distribution against the previous partition
    "drift": {"policy": "warn", "warn_threshold": 0.1, "threshold": 0.25},
}


@dataclass
class ScoringSpec:
    """A complete scoring run. See the module docstring.

    :param input: the rows to score
    :param keys: key columns passed through unchanged (e.g. ``["pin"]``)
    :param features: feature columns; ``None`` reads them from the model
    :param fill_value: replaces null/NaN features; ``None`` keeps NaN (models that handle missing values)
    :param on_invalid: a non-numeric value in a feature column: ``fill`` (with ``fill_value``/NaN) or ``fail``
    :param allow_empty_input: write an empty partition instead of failing when the input is empty
    :param report_uri: where the job writes the run report (JSON)
    """

    input: InputSpec
    model: ModelSpec
    output: TargetSpec
    keys: list[str] = field(default_factory=list)
    features: list[str] | None = None
    fill_value: float | None = None
    on_invalid: str = "fill"
    outputs: OutputsSpec = field(default_factory=OutputsSpec)
    strategy: StrategySpec = field(default_factory=StrategySpec)
    checks: dict[str, CheckSpec] = field(default_factory=dict)
    allow_empty_input: bool = False
    report_uri: str = ""
    run_id: str = ""
    version: int = SPEC_VERSION

    def validate(self) -> ScoringSpec:
        """Validate every part; raise :class:`SpecError` naming the first problem. Returns ``self``."""
        if self.version != SPEC_VERSION:
            raise SpecError(f"spec version {self.version} is not supported (this package: {SPEC_VERSION})")
        self.input.validate()
        self.model.validate()
        self.output.validate()
        self.outputs.validate()
        self.strategy.validate()
        if not self.keys:
            raise SpecError("at least one key column is required (e.g. keys=['pin'])")
        for k in self.keys:
            validate_column(k, "key column")
        if self.features is not None:
            if not self.features:
                raise SpecError("features is an empty list; pass None to read them from the model")
            for f in self.features:
                validate_column(f, "feature column")
            dupes = sorted({f for f in self.features if self.features.count(f) > 1})
            if dupes:
                raise SpecError(f"feature columns listed twice: {dupes}")
            clash = sorted(set(self.features) & set(self.keys))
            if clash:
                raise SpecError(f"columns {clash} are both keys and features")
        clash = sorted(set(self.keys) & set(self.outputs.columns()))
        if clash:
            raise SpecError(f"output columns {clash} clash with key columns")
        if set(self.output.partition) & (set(self.keys) | set(self.outputs.columns())):
            raise SpecError("output partition columns must differ from key and output columns")
        _check_choice(self.on_invalid, ON_INVALID, "on_invalid")
        merged = {name: CheckSpec(**cfg) for name, cfg in DEFAULT_CHECKS.items()}
        for name, chk in self.checks.items():
            if name not in DEFAULT_CHECKS:
                raise SpecError(f"unknown check {name!r}; known: {', '.join(DEFAULT_CHECKS)}")
            merged[name] = chk
        for name, chk in merged.items():
            chk.validate(name)
        if merged["expected_classes"].policy != "off" and not merged["expected_classes"].values:
            raise SpecError("check expected_classes needs values (the allowed classes)")
        self.checks = merged
        return self

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True, indent=1)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ScoringSpec:
        """Build a spec from its dict form (as written by :meth:`to_dict`, or hand-written)."""
        data = dict(data)
        try:
            checks_in = data.pop("checks", None) or {}
            checks = {
                name: cfg if isinstance(cfg, CheckSpec) else CheckSpec(**cfg) for name, cfg in checks_in.items()
            }
            return cls(
                input=_build(InputSpec, data.pop("input")),
                model=_build(ModelSpec, data.pop("model")),
                output=_build(TargetSpec, data.pop("output")),
                outputs=_build(OutputsSpec, data.pop("outputs", None) or {}),
                strategy=_build(StrategySpec, data.pop("strategy", None) or {}),
                checks=checks,
                **data,
            )
        except KeyError as err:
            raise SpecError(f"spec is missing {err}") from None
        except TypeError as err:
            raise SpecError(f"spec has an unknown or malformed field: {err}") from None

    @classmethod
    def from_json(cls, text: str) -> ScoringSpec:
        return cls.from_dict(json.loads(text))


def _build(kind: type, value: Any) -> Any:
    if isinstance(value, kind):
        return value
    if isinstance(value, str) and kind is ModelSpec:
        return ModelSpec(uri=value)
    if not isinstance(value, dict):
        raise SpecError(f"{kind.__name__} must be a dict, got {type(value).__name__}")
    return kind(**value)

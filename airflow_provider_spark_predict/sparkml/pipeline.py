"""Load a saved Spark ML PipelineModel and score it in plain Python (no JVM, no pyspark)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from airflow_provider_spark_predict.exceptions import LocalScoringError
from airflow_provider_spark_predict.sparkml.loader import read_metadata, to_local_path
from airflow_provider_spark_predict.sparkml.stages import STAGE_REGISTRY, LocalStage
from airflow_provider_spark_predict.sparkml.stages.feature import IndexToString, StringIndexerModel

if TYPE_CHECKING:
    import pandas as pd

PIPELINE_CLASS = "org.apache.spark.ml.PipelineModel"
_PLAIN = (float, int, str, bool)


def _supported_names() -> str:
    return ", ".join(sorted(c.rsplit(".", 1)[-1] for c in STAGE_REGISTRY))


def _stage_folder(stages_dir: Path, index: int, count: int, uid: str) -> Path:
    """Folder of stage ``index``: ``<zero-padded index>_<uid>`` (width = digits of the stage count)."""
    exact = stages_dir / f"{index:0{len(str(count))}d}_{uid}"
    if exact.is_dir():
        return exact
    matches = (
        [p for p in stages_dir.iterdir() if p.is_dir() and p.name.endswith("_" + uid)]
        if stages_dir.is_dir()
        else []
    )
    if len(matches) != 1:
        raise LocalScoringError(f"cannot find the folder of stage {index} (uid {uid}) in {stages_dir}")
    return matches[0]


def _load_stages(folder: Path) -> list[LocalStage]:
    meta = read_metadata(folder)
    cls = meta["class"]
    if cls != PIPELINE_CLASS:
        if cls in STAGE_REGISTRY:  # a single saved stage scores as a one-stage pipeline
            return [STAGE_REGISTRY[cls](meta, folder)]
        raise LocalScoringError(f"{folder} holds a {cls}, not a {PIPELINE_CLASS}")
    uids = (meta.get("paramMap") or {}).get("stageUids")
    if not isinstance(uids, list):
        raise LocalScoringError(f"{folder}: pipeline metadata has no stageUids")
    stages: list[LocalStage] = []
    for i, uid in enumerate(uids):
        sub = _stage_folder(folder / "stages", i, len(uids), uid)
        sub_meta = read_metadata(sub)
        sub_cls = sub_meta["class"]
        if sub_cls == PIPELINE_CLASS:
            stages.extend(_load_stages(sub))
            continue
        impl = STAGE_REGISTRY.get(sub_cls)
        if impl is None:
            short = sub_cls.rsplit(".", 1)[-1]
            raise LocalScoringError(
                f"cannot score locally: stage {i} {short} (uid {sub_meta.get('uid', uid)}, class {sub_cls}) "
                f"is not supported; supported stages: {_supported_names()}"
            )
        stages.append(impl(sub_meta, sub))
    return stages


def load_pipeline(path: str | Path, input_types: Mapping[str, str] | None = None) -> LocalPipelineModel:
    """Load a saved Spark ML ``PipelineModel`` folder for JVM-free scoring.

    Every stage and every set param is checked against the allowlist now, so an unsupported
    pipeline fails here and not at scoring time.

    :param path: the folder written by ``PipelineModel.save`` (local path or ``file://`` URI).
    :param input_types: optional Spark type names of input columns (``int``, ``long``, ``double``,
        ``string``...), used by :meth:`LocalPipelineModel.predict_rows` where a null carries no type
        (an Imputer casts its surrogate back to the column's type).
    :return: the model.
    :raises LocalScoringError: missing/unreadable folder, or an unsupported stage or param.
    """
    folder = to_local_path(path)
    if not folder.exists():
        raise LocalScoringError(f"no saved Spark ML pipeline at {folder}")
    if not folder.is_dir():
        raise LocalScoringError(f"{folder} is not a folder (a saved PipelineModel is a folder)")
    meta = read_metadata(folder)
    stages = _load_stages(folder)
    return LocalPipelineModel(
        stages, source=str(folder), spark_version=str(meta.get("sparkVersion", "")), input_types=input_types
    )


class LocalPipelineModel:
    """A fitted Spark ML pipeline scored in plain Python, with the results of Spark's ``transform``.

    :param stages: the loaded stages, in order.
    :param source: where it was loaded from.
    :param spark_version: Spark version that saved it.
    :param input_types: optional Spark type names of input columns.
    """

    def __init__(
        self,
        stages: Sequence[LocalStage],
        source: str = "",
        spark_version: str = "",
        input_types: Mapping[str, str] | None = None,
    ) -> None:
        self.stages = list(stages)
        self.source = source
        self.spark_version = spark_version
        self.input_types: dict[str, str] = dict(input_types or {})
        labels: dict[str, list[str]] = {}
        for stage in self.stages:
            if isinstance(stage, IndexToString):
                stage.resolve_labels(labels)
            if isinstance(stage, StringIndexerModel):
                labels.update(zip(stage.outs, stage.labels, strict=True))
        self._fns = [stage.compile() for stage in self.stages]
        self._inputs, self._optional = self._find_inputs()
        self._outputs = [c for s in self.stages for c in s.output_columns]
        self._vectors = {c for s in self.stages for c in s.vector_outputs()}

    def _find_inputs(self) -> tuple[list[str], list[str]]:
        produced: set[str] = set()
        required: list[str] = []
        optional: list[str] = []
        for i, stage in enumerate(self.stages):
            later = {c for s in self.stages[i + 1 :] for c in s.input_columns}
            skippable = set()
            if isinstance(stage, StringIndexerModel):
                # Spark skips a StringIndexer input column missing from the data (e.g. a label column).
                skippable = {c for c, o in zip(stage.ins, stage.outs, strict=True) if o not in later}
            for c in stage.input_columns:
                if c in produced or c in required or c in optional:
                    continue
                (optional if c in skippable else required).append(c)
            produced.update(stage.output_columns)
        return required, optional

    # ------------------------------------------------------------------ properties
    @property
    def input_columns(self) -> list[str]:
        """Columns the pipeline reads (a StringIndexer column whose output nothing reads, like a label
        column, is optional and listed in :attr:`optional_input_columns` instead)."""
        return list(self._inputs)

    @property
    def optional_input_columns(self) -> list[str]:
        """Columns read when present and skipped when absent, as Spark does."""
        return list(self._optional)

    @property
    def output_columns(self) -> list[str]:
        """Columns added by the stages, in Spark's order."""
        return list(self._outputs)

    @property
    def vector_columns(self) -> list[str]:
        """Output columns holding vectors."""
        return [c for c in self._outputs if c in self._vectors]

    def __repr__(self) -> str:
        names = ", ".join(s.short_class for s in self.stages)
        return f"LocalPipelineModel({self.source!r}, spark {self.spark_version}, stages=[{names}])"

    # ------------------------------------------------------------------ scoring
    def _run(
        self, rows: list[dict[str, Any]], hints: dict[str, str]
    ) -> tuple[list[dict[str, Any]], list[int]]:
        fns = self._fns
        kept_rows: list[dict[str, Any]] = []
        kept_idx: list[int] = []
        n = 0
        try:
            for n, row in enumerate(rows):  # noqa: B007 (n is reported on error)
                for fn in fns:
                    if not fn(row, hints):
                        break
                else:
                    kept_rows.append(row)
                    kept_idx.append(n)
        except KeyError as exc:
            raise LocalScoringError(
                f"input has no column {exc.args[0]!r} (the pipeline reads {self._inputs})"
            ) from None
        except (TypeError, IndexError) as exc:
            raise LocalScoringError(f"cannot score row {n}: {exc}") from exc
        return kept_rows, kept_idx

    def predict_rows(self, rows: Mapping[str, Any] | Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
        """Score one row or a few rows given as dicts (the low-latency path).

        :param rows: a dict or a list of dicts, column -> value. ``None`` is Spark's null, a float NaN
            is NaN. Vectors may be lists or numpy arrays.
        :return: one dict per kept row (rows Spark would drop under ``handleInvalid='skip'`` are
            left out): the input values plus every output column; vectors are lists of floats.
        :raises LocalScoringError: a missing column, or a value Spark would fail on.
        """
        items = [rows] if isinstance(rows, Mapping) else rows
        hints = self.input_types
        prepared: list[dict[str, Any]] = []
        cols = self._inputs + self._optional
        for item in items:
            row = dict(item)
            for c in cols:
                v = row.get(c)
                if v is not None and type(v) not in _PLAIN:
                    from airflow_provider_spark_predict.sparkml.frames import py_value

                    row[c] = py_value(v)
            prepared.append(row)
        return self._run(prepared, hints)[0]

    def transform(self, data: pd.DataFrame | Mapping[str, Any] | Sequence[Mapping[str, Any]]) -> pd.DataFrame:
        """Score a pandas DataFrame like Spark's ``PipelineModel.transform``.

        :param data: a DataFrame (or dict / list of dicts). Nulls: ``None``/``pd.NA`` in object or
            nullable columns; NaN in a numpy float column is NaN, not null.
        :return: the kept rows (original index) with all input columns plus each stage's output
            columns; vectors are float64 numpy arrays, one per cell; a column with nulls is of object
            dtype holding ``None``.
        :raises LocalScoringError: a missing column, or a value Spark would fail on.
        """
        import pandas as pd

        from airflow_provider_spark_predict.sparkml.frames import frame_to_rows, output_series

        if not isinstance(data, pd.DataFrame):
            scored = self.predict_rows(data)  # type: ignore[arg-type]
            frame = pd.DataFrame(
                {
                    c: output_series(
                        [r.get(c) for r in scored], c in self._vectors, pd.RangeIndex(len(scored))
                    )
                    for c in dict.fromkeys(k for r in scored for k in r)
                }
            )
            return frame
        missing = [c for c in self._inputs if c not in data.columns]
        if missing:
            raise LocalScoringError(f"input has no column(s) {missing} (the pipeline reads {self._inputs})")
        rows, hints = frame_to_rows(data, self._inputs + self._optional)
        merged = dict(self.input_types)
        merged.update(hints)
        kept_rows, kept_idx = self._run(rows, merged)
        out = data.iloc[kept_idx].copy() if len(kept_idx) != len(data) else data.copy()
        skipped = self._optional_outputs(data)
        produced = [c for c in self._outputs if c not in skipped]
        for c in produced:
            out[c] = output_series([r.get(c) for r in kept_rows], c in self._vectors, out.index)
        return out

    def _optional_outputs(self, data: pd.DataFrame) -> set[str]:
        """Output columns of skipped (absent) StringIndexer inputs."""
        skipped: set[str] = set()
        for stage in self.stages:
            if isinstance(stage, StringIndexerModel):
                skipped.update(o for i, o in zip(stage.ins, stage.outs, strict=True) if i not in data.columns)
        return skipped

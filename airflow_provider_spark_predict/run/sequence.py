"""The scoring run, once for every engine: read -> score -> write version -> facts -> previous partition
-> checks -> publish -> cleanup -> report.

:func:`score_partition` builds the :class:`RunReport` and writes it to ``spec.report_uri`` in every
outcome, errors included; ``_CHECKED.json`` beside it only when the partition was published with every
``fail`` check passed. Nothing unchecked becomes visible: the rows go to a version folder first
(:class:`Layout`), and only a run without a failed ``fail`` check publishes it.
"""

from __future__ import annotations

import re
import time
import traceback
from collections.abc import Callable
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta

from airflow_provider_spark_predict.checks.evaluate import evaluate_checks
from airflow_provider_spark_predict.exceptions import InputError, SparkPredictError
from airflow_provider_spark_predict.job.progress import Phases
from airflow_provider_spark_predict.report import CHECKED_MARKER, ModelFacts, RunReport
from airflow_provider_spark_predict.run import facts
from airflow_provider_spark_predict.run.engine import Engine, resolve_outputs
from airflow_provider_spark_predict.run.layout import Layout, partition_folder, previous_path_partition
from airflow_provider_spark_predict.run.lock import LOCK_NAME, PublishLock
from airflow_provider_spark_predict.run.publish import Files, cleanup_versions, publish_folder
from airflow_provider_spark_predict.spec import ScoringSpec

_EXC_LINE = re.compile(r"^\s*([A-Za-z_][\w.]*(?:Error|Exception)): (.+)$")


class Timer:
    """Collect named durations in seconds."""

    def __init__(self) -> None:
        self.durations: dict[str, float] = {}
        self._start = time.monotonic()

    def lap(self, name: str) -> None:
        now = time.monotonic()
        self.durations[name] = round(now - self._start, 3)
        self._start = now


def summarize_error(err: BaseException) -> str:
    """One useful line for an error: for a Python worker failure, the worker's own exception line
    (``ValueError: Input X contains NaN.``), not Spark's generic first line."""
    text = str(err)
    found = [m.group(0).strip() for line in text.splitlines() if (m := _EXC_LINE.match(line))]
    found = [f for f in found if not f.startswith(("org.apache.spark", "py4j", "pyspark.errors"))]
    first = text.splitlines()[0] if text else type(err).__name__
    return (f"{first.rstrip(':')}: {found[-1]}" if found else first)[:2000]


def new_report(spec: ScoringSpec, engine: str) -> RunReport:
    """The report of a run that starts now."""
    return RunReport(run_id=spec.run_id, engine=engine, input=spec.input.describe(),
                     output=spec.output.describe(), output_partition=dict(spec.output.partition),
                     spec=spec.to_dict(), started_at=datetime.now(UTC).isoformat())


def score_partition(engine: Engine, spec: ScoringSpec) -> RunReport:
    """Run every step with ``engine``; return the report, also written to ``spec.report_uri`` (if set).

    Never raises for a failed run: the report says ``status="error"`` with ``error_type`` and ``error``
    (and a ``traceback`` for errors outside the package's own family).
    """
    started = time.monotonic()
    report = new_report(spec, engine.name)
    with ExitStack() as publishing:  # holds the partition's publish lock until the marker is written
        try:
            run_steps(engine, spec, report, publishing)
        except SparkPredictError as err:
            report.update({"status": "error", "error_type": type(err).__name__, "error": str(err)})
            engine.log(f"ERROR {type(err).__name__}: {err}")
        except Exception as err:  # noqa: BLE001 - anything else is still reported, with its traceback
            report.update({"status": "error", "error_type": type(err).__name__, "error": summarize_error(err),
                           "traceback": traceback.format_exc()[-4000:]})
            engine.log(f"ERROR {type(err).__name__}: {err}")
        report.wall_s = round(time.monotonic() - started, 3)
        report.finished_at = datetime.now(UTC).isoformat()
        if spec.report_uri:
            text = report.to_json()
            engine.files.write_text(spec.report_uri, text)
            if report.status == "succeeded":
                engine.files.write_text(f"{spec.report_uri.rsplit('/', 1)[0]}/{CHECKED_MARKER}", text)
            engine.log(f"report written to {spec.report_uri} (status {report.status})")
    return report


def still_running(files: Files, report_uri: str | None, max_age: timedelta = timedelta(hours=24)) -> Callable[[str], bool]:
    """Whether the version folder ``name`` belongs to a run still writing it: its report is not written yet
    and its run id (a UTC timestamp) is less than ``max_age`` old. Cleanup leaves those alone.

    :param files: the engine's file operations
    :param report_uri: this run's report (the other runs' reports are beside it); ``None``: no run is
    """
    if not report_uri:
        return lambda name: False
    folder = report_uri.rsplit("/", 1)[0]

    def running(name: str) -> bool:
        try:
            born = datetime.strptime(name.split("-", 1)[0], "%Y%m%dT%H%M%S%fZ").replace(tzinfo=UTC)
        except ValueError:
            return False
        return datetime.now(UTC) - born < max_age and not files.exists(f"{folder}/{name}.json")

    return running


def exit_code(report: RunReport) -> int:
    """0 for a run that did not fail (failed checks included), 2 for the package's errors, 3 for others."""
    if report.status != "error":
        return 0
    return 3 if report.traceback else 2


def run_steps(engine: Engine, spec: ScoringSpec, report: RunReport, publishing: ExitStack) -> None:
    """The steps of a run; fills ``report``, raises on an error.

    :param publishing: takes the partition's :class:`PublishLock` before publishing; the caller releases
        it after writing the report and marker
    """
    timer = Timer()
    phases = Phases(engine.log)
    engine.describe(report)
    model = engine.load_model(spec)
    spec = resolve_outputs(spec, model, engine.log)
    report.model = ModelFacts(uri=spec.model.uri, flavor=model.flavor, library=model.library,
                              n_features=len(model.features), classes=model.classes, input_kind=model.input_kind)
    engine.log(f"model {spec.model.uri}: flavor {model.flavor}, {len(model.features)} input columns, "
               f"{model.library}")
    timer.lap("load_model_s")

    phases.phase("footer job" if engine.name == "spark" else "read input")
    rows_in = engine.read_input(spec, model)
    report.rows_in = rows_in
    if rows_in == 0 and not spec.allow_empty_input:
        raise InputError(
            f"input {spec.input.describe()} is empty or missing (0 rows); the output partition "
            f"{spec.output.describe()} was left as it was. Pass allow_empty_input=True to write an empty partition."
        )
    report.input_filter = spec.input.filter
    phases.phase("scoring")
    report.strategy = engine.score(spec, model)
    report.model.cast_rules = model.cast_rules
    timer.lap("read_validate_s")

    target = spec.output
    layout = Layout(engine.output_base(spec), dict(target.partition))
    version = layout.version_path(spec.run_id)
    engine.write_version(version)
    report.model_loads, report.model_predict_s = engine.worker_counters()
    report.model.unseen_categories = engine.unseen_categories() or None
    report.version_path = version
    engine.log(f"wrote {version} ({report.model_loads} model loads on workers, "
               f"{report.model_predict_s:.1f} s inside the model's predict)")
    timer.lap("score_write_s")

    phases.phase("checks")
    check_facts(engine, spec, report, layout)
    timer.lap("checks_s")
    phases.phase("publish")

    report.checks = evaluate_checks(report, spec.checks)
    for r in report.checks:
        engine.log(r.message)
    if report.failed_checks:
        report.update({"status": "failed_checks", "published": False})
        engine.log(f"NOT publishing {target.describe()}: {len(report.failed_checks)} check(s) failed; "
                   f"the previous partition is unchanged; the rejected rows stay in {version}")
    else:
        publishing.enter_context(PublishLock(engine.files, f"{layout.versions_dir}/{LOCK_NAME}", spec.run_id,
                                             engine.log))
        if not engine.files.exists(version):
            raise SparkPredictError(f"version folder {version} vanished before publishing (concurrent cleanup?)")
        if target.table:
            before = engine.publish_table(target, version)
            location = version
        else:
            before = publish_folder(engine.files, layout, version, engine.log)
            location = layout.partition_location
        report.update({"status": "succeeded", "published": True, "published_location": location,
                       "replaced_location": before})
        cleanup_versions(engine.files, layout, target.keep_previous_versions, version, engine.log,
                         skip=still_running(engine.files, spec.report_uri))
    timer.lap("publish_s")
    report.durations = timer.durations
    report.phases_s = phases.finish()
    report.rows_scored = report.rows_out
    scoring_s = report.phases_s.get("scoring")
    if report.rows_out is not None and scoring_s:
        report.rows_per_s = round(report.rows_out / scoring_s, 1)


def check_facts(engine: Engine, spec: ScoringSpec, report: RunReport, layout: Layout) -> None:
    """Facts of the written version, and drift against the previous partition of the output."""
    assert report.version_path is not None and report.model is not None
    written = engine.read_version(report.version_path)
    classifier = report.model.classes is not None
    o, target = spec.outputs, spec.output
    report.update(facts.written_facts(written, spec.keys, o, classifier))
    if target.table:
        prev = engine.previous_table_partition(target)
    else:
        prev = previous_path_partition(engine.files.list_dirs(layout.base), target.partition)
    report.previous_partition = prev
    if prev and report.rows_out:
        prev_rows = (engine.read_table_partition(target, prev) if target.table
                     else engine.read_version(partition_folder(layout.base, prev)))
        report.update(facts.drift_facts(written, prev_rows, o.prediction_column, o.score_column, classifier))

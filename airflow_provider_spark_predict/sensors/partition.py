"""SparkPredictPartitionSensor: wait in a downstream DAG until a scored partition is published *and* checked.

The scoring job writes ``<store>/reports/<table>/<partition>/_CHECKED.json`` only after the partition
passed every ``fail`` check and was published; a run whose checks failed never writes it (and leaves the
previous partition in place). Downstream DAGs therefore wait for this marker rather than for the
partition to merely exist.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from airflow.sdk import BaseSensorOperator, PokeReturnValue

from airflow_provider_spark_predict import embedded
from airflow_provider_spark_predict.report import CHECKED_MARKER, RunReport, report_folder
from airflow_provider_spark_predict.spec import TargetSpec


class SparkPredictPartitionSensor(BaseSensorOperator):
    """Wait until ``output_table``/``output_path`` partition ``partition`` has been scored and checked.

    :param output_table: the scored Hive table (templated); or ``output_path``
    :param output_path: the scored output folder (templated)
    :param partition: the partition, e.g. ``{"dt": "{{ ds }}"}`` (templated)
    :param store_uri: the report store used by the scoring task (default: the embedded ``file://`` store)
    :param storage_options: fsspec options for the store
    :param min_rows: also require at least this many rows in the checked report
    """

    template_fields: Sequence[str] = ("output_table", "output_path", "partition", "store_uri")

    def __init__(
        self,
        *,
        output_table: str | None = None,
        output_path: str | None = None,
        partition: dict[str, str] | None = None,
        store_uri: str | None = None,
        storage_options: dict[str, Any] | None = None,
        min_rows: int = 0,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.output_table = output_table
        self.output_path = output_path
        self.partition = partition if partition is not None else {"dt": "{{ ds }}"}
        self.store_uri = store_uri
        self.storage_options = storage_options
        self.min_rows = min_rows

    def poke(self, context: Any) -> PokeReturnValue | bool:
        import fsspec

        target = TargetSpec(table=self.output_table, path=self.output_path, partition=dict(self.partition))
        target.validate()
        uri = f"{report_folder(self.store_uri or embedded.default_store_uri(), target)}/{CHECKED_MARKER}"
        fs, path = fsspec.core.url_to_fs(uri, **(self.storage_options or {}))
        if not fs.exists(path):
            self.log.info("no checked report yet at %s", uri)
            return False
        with fs.open(path, "r") as fh:
            report = RunReport.from_json(fh.read())
        if report.status != "succeeded" or int(report.rows_out or 0) < self.min_rows:
            self.log.info("report at %s is not a checked partition with >= %s rows", uri, self.min_rows)
            return False
        self.log.info("partition %s is published and checked (run %s, %s rows)", target.describe(),
                      report.run_id, report.rows_out)
        return PokeReturnValue(is_done=True, xcom_value=report.to_dict())

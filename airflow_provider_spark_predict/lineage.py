"""OpenLineage for a scoring run: what went in (input partition, model file, environment archive) and what
came out (output partition).

The OpenLineage provider is optional. :func:`lineage_datasets` returns plain dicts and needs nothing;
:func:`operator_lineage` turns them into ``OperatorLineage`` when ``apache-airflow-providers-openlineage``
is installed and returns ``None`` otherwise. Dataset names follow the OpenLineage naming conventions:
a Hive table is ``namespace="hive"``/``name="db.table"`` (the partition is not part of a dataset's
identity there; it is kept in the plain structure only), a file is
``namespace="<scheme>://<authority>"``/``name=<path>``.
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import urlsplit

from airflow_provider_spark_predict.spec import ScoringSpec

_log = logging.getLogger(__name__)

#: OpenLineage namespace for Hive metastore tables (no metastore address is known on the Airflow side).
HIVE_NAMESPACE = "hive"


def file_dataset(uri: str, role: str) -> dict[str, Any]:
    """A file or folder as ``{"namespace", "name", "role"}`` (``file`` for local paths)."""
    parts = urlsplit(uri)
    if not parts.scheme:
        return {"namespace": "file", "name": uri, "role": role}
    namespace = f"{parts.scheme}://{parts.netloc}" if parts.netloc else parts.scheme
    return {"namespace": namespace, "name": parts.path or "/", "role": role}


def _target(table: str | None, path: str | None, partition: dict[str, str], role: str) -> dict[str, Any] | None:
    if table:
        return {"namespace": HIVE_NAMESPACE, "name": table, "role": role, "partition": dict(partition)}
    if path:
        return {**file_dataset(path, role), "partition": dict(partition)}
    return None


def lineage_datasets(spec: ScoringSpec, report: dict[str, Any] | None = None) -> dict[str, list[dict[str, Any]]]:
    """Inputs and outputs of a run as plain dicts (no OpenLineage needed).

    :param spec: the run's spec (``model.uri`` is the staged URI after the run)
    :param report: the run report; supplies the staged environment archive and the model URI
    """
    report = report or {}
    inputs: list[dict[str, Any]] = []
    source = _target(spec.input.table, spec.input.path, spec.input.partition, "input")
    if source is not None:
        inputs.append(source)
    model_uri = (report.get("model") or {}).get("uri") or spec.model.uri
    inputs.append(file_dataset(model_uri, "model"))
    env = ((report.get("staging") or {}).get("environment") or {}).get("uri")
    if env:
        inputs.append(file_dataset(env.split("#", 1)[0], "environment"))
    outputs: list[dict[str, Any]] = []
    target = _target(spec.output.table, spec.output.path, spec.output.partition, "output")
    if target is not None:
        outputs.append(target)
    return {"inputs": inputs, "outputs": outputs}


def operator_lineage(spec: ScoringSpec, report: dict[str, Any] | None = None, log: Any = None) -> Any:
    """``OperatorLineage`` for the run, or ``None`` when the OpenLineage provider is not installed.

    :param spec: the run's spec
    :param report: the run report
    :param log: logger for the "not installed" note
    """
    try:
        from airflow.providers.common.compat.openlineage.facet import Dataset
        from airflow.providers.openlineage.extractors import OperatorLineage
    except ImportError:
        (log or _log).debug("OpenLineage provider not installed: no lineage for this run")
        return None
    found = lineage_datasets(spec, report)

    def convert(items: list[dict[str, Any]]) -> list[Any]:
        return [Dataset(namespace=d["namespace"], name=d["name"]) for d in items]

    return OperatorLineage(inputs=convert(found["inputs"]), outputs=convert(found["outputs"]))

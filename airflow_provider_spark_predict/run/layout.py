"""Where a run's files go: partition folders, version folders, superseded folders (plain strings).

Output path ``<base>/dt=2026-01-01`` is the published partition; ``<base>/_spark_predict/dt=2026-01-01/<run
id>`` the version folder a run writes before its checks; ``.../superseded-<run id>`` the partition folder a
publish moved aside. For a Hive table ``<base>`` is the table location.
"""

from __future__ import annotations

from dataclasses import dataclass

VERSIONS_DIR = "_spark_predict"
SUPERSEDED_PREFIX = "superseded-"
#: Suffix of the status file beside the run report (``<run_id>.json`` -> ``<run_id>.status``).
STATUS_SUFFIX = ".status"


def status_uri(report_uri: str) -> str:
    """The run's status file: the report URI with ``.status`` for ``.json`` (same folder of the store).

    :param report_uri: the run report's URI (``spec.report_uri``)
    """
    return report_uri.removesuffix(".json") + STATUS_SUFFIX


def partition_path(partition: dict[str, str]) -> str:
    """``dt=2026-01-01[/hour=01]`` for a validated partition spec."""
    return "/".join(f"{k}={v}" for k, v in partition.items())


def partition_folder(root: str, partition: dict[str, str]) -> str:
    """``<root>/dt=2026-01-01`` (``root`` itself for an empty partition)."""
    root = root.rstrip("/")
    return f"{root}/{partition_path(partition)}" if partition else root


@dataclass(frozen=True)
class Layout:
    """The folders of one output partition.

    :param base: table location or output path (no trailing ``/``)
    :param partition: the output partition
    """

    base: str
    partition: dict[str, str]

    @property
    def versions_dir(self) -> str:
        return f"{self.base}/{VERSIONS_DIR}/{partition_path(self.partition)}"

    def version_path(self, run_id: str) -> str:
        return f"{self.versions_dir}/{run_id}"

    def superseded_path(self, run_id: str) -> str:
        return f"{self.versions_dir}/{SUPERSEDED_PREFIX}{run_id}"

    @property
    def partition_location(self) -> str:
        return partition_folder(self.base, self.partition)


def previous_path_partition(folder_names: list[str], partition: dict[str, str]) -> dict[str, str] | None:
    """The newest partition before ``partition`` among the sub-folders of an output path (one partition
    column only; ``None`` when there is none).

    :param folder_names: names of the output path's sub-folders
    :param partition: the partition this run writes
    """
    if len(partition) != 1:
        return None
    (name, current), = partition.items()
    values = [d.split("=", 1)[1] for d in folder_names if d.startswith(f"{name}=") and d != VERSIONS_DIR]
    older = sorted(v for v in values if v < current)
    return {name: older[-1]} if older else None

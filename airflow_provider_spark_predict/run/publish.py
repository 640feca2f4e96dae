"""Publish a version folder as the output partition folder, and clean up superseded versions.

Path outputs: the old partition folder is renamed aside (``superseded-<run id>``) and the version folder
renamed in; when the second rename fails, the old folder is renamed back. A reader between the two
renames sees no partition, never a mix. Hive tables are published by the Spark engine (one metastore
update), but their superseded versions are cleaned up here too.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from airflow_provider_spark_predict.exceptions import JobError
from airflow_provider_spark_predict.run.layout import SUPERSEDED_PREFIX, Layout


class Files(Protocol):
    """The file operations a run needs, on URIs of the engine's filesystem."""

    def exists(self, uri: str) -> bool: ...

    def rename(self, src: str, dst: str) -> bool: ...

    def delete(self, uri: str) -> None: ...

    def list_dirs(self, uri: str) -> list[str]: ...

    def write_text(self, uri: str, text: str) -> None: ...

    def read_text(self, uri: str) -> str: ...

    def create_new(self, uri: str, text: str) -> bool: ...


def publish_folder(files: Files, layout: Layout, version: str, log: Callable[[str], None]) -> str | None:
    """Rename ``version`` into the partition folder; return where the previous partition folder went.

    :raises JobError: a rename failed (the previous partition folder is back in place)
    """
    final = layout.partition_location
    previous = None
    if files.exists(final):
        previous = layout.superseded_path(version.rstrip("/").rsplit("/", 1)[-1])
        if not files.rename(final, previous):
            raise JobError(f"could not move the previous partition {final} aside to {previous}")
    if not files.rename(version, final):
        if previous:
            files.rename(previous, final)
        raise JobError(f"could not move {version} to {final}; the previous partition was restored")
    log(f"published {final}")
    return previous


def cleanup_versions(files: Files, layout: Layout, keep: int, current: str, log: Callable[[str], None],
                     skip: Callable[[str], bool] = lambda name: False) -> None:
    """Delete superseded version folders of this partition, keeping the newest ``keep`` of them.

    :param skip: folders left alone whatever their age (the version of a run still writing it)
    """
    current_name = current.rstrip("/").rsplit("/", 1)[-1]
    old = [n for n in files.list_dirs(layout.versions_dir) if n != current_name and not skip(n)]
    # run ids start with a sortable UTC timestamp, so name order is age order
    old.sort(key=lambda n: n.removeprefix(SUPERSEDED_PREFIX))
    for name in old[: max(0, len(old) - keep)]:
        files.delete(f"{layout.versions_dir}/{name}")
        log(f"deleted superseded version {name}")

"""File operations on fsspec URIs, with the run's storage options (the in-process engine's ``Files``)."""

from __future__ import annotations

import uuid
from typing import Any

from airflow_provider_spark_predict.run.lock import create_local_exclusive


class FsspecFiles:
    """:class:`airflow_provider_spark_predict.run.publish.Files` over fsspec.

    :param storage_options: fsspec options, applied to every URI (``file://``, plain paths, ``hdfs://``...)
    """

    def __init__(self, storage_options: dict[str, Any] | None = None) -> None:
        self.storage_options = dict(storage_options or {})

    def resolve(self, uri: str) -> tuple[Any, str]:
        """The fsspec filesystem and the path in it of ``uri``."""
        import fsspec

        fs, path = fsspec.core.url_to_fs(uri, **self.storage_options)
        return fs, path

    def exists(self, uri: str) -> bool:
        fs, path = self.resolve(uri)
        return bool(fs.exists(path))

    def makedirs(self, uri: str) -> None:
        fs, path = self.resolve(uri)
        fs.makedirs(path, exist_ok=True)

    def rename(self, src: str, dst: str) -> bool:
        fs, a = self.resolve(src)
        _, b = self.resolve(dst)
        parent = b.rsplit("/", 1)[0]
        try:
            if parent:
                fs.makedirs(parent, exist_ok=True)
            fs.mv(a, b, recursive=True)
        except OSError:
            return False
        return bool(fs.exists(b)) and not fs.exists(a)

    def delete(self, uri: str) -> None:
        fs, path = self.resolve(uri)
        if fs.exists(path):
            fs.rm(path, recursive=True)

    def list_dirs(self, uri: str) -> list[str]:
        fs, path = self.resolve(uri)
        if not fs.exists(path):
            return []
        return sorted(e["name"].rstrip("/").rsplit("/", 1)[-1] for e in fs.ls(path, detail=True)
                      if e.get("type") == "directory")

    def create_new(self, uri: str, text: str) -> bool:
        """Create ``uri`` with ``text`` unless it exists; ``False`` when it existed (exclusive open on
        local disks, check-then-write elsewhere)."""
        fs, path = self.resolve(uri)
        parent = path.rsplit("/", 1)[0]
        if parent:
            fs.makedirs(parent, exist_ok=True)
        protocols = (fs.protocol,) if isinstance(fs.protocol, str) else tuple(fs.protocol)
        if "file" in protocols:
            return create_local_exclusive(path, text)
        if fs.exists(path):
            return False
        with fs.open(path, "w") as fh:
            fh.write(text)
        return True

    def read_text(self, uri: str) -> str:
        fs, path = self.resolve(uri)
        with fs.open(path, "r") as fh:
            return str(fh.read())

    def write_text(self, uri: str, text: str) -> None:
        """Write ``text`` to ``uri`` atomically (temporary name beside it, then rename over it)."""
        fs, path = self.resolve(uri)
        parent = path.rsplit("/", 1)[0]
        if parent:
            fs.makedirs(parent, exist_ok=True)
        tmp = f"{parent}/.tmp-{uuid.uuid4().hex}"
        with fs.open(tmp, "w") as fh:
            fh.write(text)
        if fs.exists(path):
            fs.rm(path)
        fs.mv(tmp, path)

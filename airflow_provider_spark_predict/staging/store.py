"""Stores: where staged artifacts live, addressed by fsspec URIs.

``file://`` (the embedded default), ``hdfs://`` (pyarrow's HadoopFileSystem through fsspec) and
``webhdfs://`` are the stores Spark can read on a cluster. Publishing is upload-if-absent: the bytes go
to a unique temporary name next to the target and are then renamed, so a reader never sees a half-written
file or folder. On a ``file://`` store an exclusive ``fcntl`` lock per target serialises concurrent
producers on this machine (the loser waits and then finds the artifact); on remote stores the protocol
is best-effort: check, upload to a unique temporary name, rename, and keep the existing copy if another
writer got there first.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import shutil
import time
import uuid
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

from airflow_provider_spark_predict.exceptions import StagingError

_log = logging.getLogger(__name__)

#: Folder (under the store root) that holds lock files of a ``file://`` store.
LOCK_DIR = ".locks"
#: Prefix of temporary upload names; Hadoop input formats treat dot-files as hidden.
TMP_PREFIX = ".tmp-"


class Store:
    """A folder in some filesystem that holds staged artifacts.

    Build one with :func:`open_store`. Paths given to the methods are relative to the store root and
    use ``/``.

    :param uri: Root URI of the store, as Spark will read it (``file:///data/stage``, ``hdfs://nn:8020/x``).
    :param fs: The fsspec filesystem that serves the root.
    :param root_path: The root as a path of ``fs`` (the URI without scheme and authority for most stores).
    """

    def __init__(self, uri: str, fs: Any, root_path: str) -> None:
        self.uri = uri.rstrip("/")
        self.fs = fs
        self.root_path = root_path.rstrip("/") or "/"
        self.is_local = urlsplit(self.uri).scheme == "file"

    def __repr__(self) -> str:
        return f"Store({self.uri!r})"

    def uri_for(self, rel: str) -> str:
        """Return the full URI of ``rel``.

        :param rel: Path relative to the store root.
        """
        return f"{self.uri}/{rel.strip('/')}"

    def path_for(self, rel: str) -> str:
        """Return the filesystem path of ``rel`` (what ``self.fs`` methods take).

        :param rel: Path relative to the store root.
        """
        return f"{self.root_path.rstrip('/')}/{rel.strip('/')}"

    def exists(self, rel: str) -> bool:
        """Return True when ``rel`` exists in the store.

        :param rel: Path relative to the store root.
        """
        if self.is_local:
            return os.path.exists(self.path_for(rel))
        return bool(self.fs.exists(self.path_for(rel)))

    def size(self, rel: str) -> int:
        """Return the size in bytes of ``rel`` (sum of file sizes for a folder).

        :param rel: Path relative to the store root.
        """
        path = self.path_for(rel)
        if self.fs.isdir(path):
            return int(self.fs.du(path, total=True))
        return int(self.fs.size(path))

    def relative(self, uri: str) -> str:
        """Return the path of ``uri`` relative to the store root.

        :param uri: A full URI under the store (``<store uri>/reports/x.json``); on a ``file://`` store
            the plain local path is accepted too.
        :raises StagingError: if ``uri`` is not under this store.
        """
        for root in (self.uri, self.root_path if self.is_local else None):
            if root and uri.startswith(root.rstrip("/") + "/"):
                return uri[len(root.rstrip("/")) + 1 :]
        raise StagingError(f"{uri} is not under the store {self.uri}")

    def read_text(self, rel: str) -> str | None:
        """Return the text of the file ``rel``, or ``None`` if it does not exist.

        :param rel: Path relative to the store root.
        """
        path = self.path_for(rel)
        if not self.fs.exists(path):
            return None
        with self.fs.open(path, "r", encoding="utf-8") as fh:
            return str(fh.read())

    def write_text(self, rel: str, text: str) -> None:
        """Write ``text`` to the file ``rel`` (replacing it), creating its folder.

        On a ``file://`` store the text goes to a temporary name first and is renamed, so a reader never
        sees half a file.

        :param rel: Path relative to the store root.
        :param text: The content (UTF-8).
        """
        path = self.path_for(rel)
        parent = path.rsplit("/", 1)[0]
        if self.is_local:
            os.makedirs(parent, exist_ok=True)
            tmp = f"{parent}/{TMP_PREFIX}{uuid.uuid4().hex}"
            with open(tmp, "w", encoding="utf-8") as fh:
                fh.write(text)
            os.replace(tmp, path)
            return
        self.fs.makedirs(parent, exist_ok=True)
        with self.fs.open(path, "w", encoding="utf-8") as fh:
            fh.write(text)

    @contextlib.contextmanager
    def lock(self, rel: str, *, log: logging.Logger | None = None, timeout: float = 3600.0) -> Iterator[None]:
        """Hold an exclusive lock for producing ``rel``.

        On a ``file://`` store this is an ``fcntl.flock`` on ``<root>/.locks/<rel>.lock``, which works
        between processes of one machine (and on NFS only where the NFS client supports ``flock``). On
        remote stores there is no lock: the caller falls back to best-effort publishing.

        :param rel: Path relative to the store root.
        :param log: Logger for "waiting" messages.
        :param timeout: Seconds to wait for the lock before raising :class:`StagingError`.
        """
        log = log or _log
        if not self.is_local:
            yield
            return
        lock_dir = self.path_for(LOCK_DIR)
        os.makedirs(lock_dir, exist_ok=True)
        lock_path = os.path.join(lock_dir, rel.strip("/").replace("/", "__") + ".lock")
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            deadline = time.monotonic() + timeout
            waited = False
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if not waited:
                        log.info("Another process is staging %s; waiting for it", self.uri_for(rel))
                        waited = True
                    if time.monotonic() > deadline:
                        raise StagingError(
                            f"Timed out after {timeout:.0f} s waiting for the lock {lock_path} "
                            f"(another process is staging {self.uri_for(rel)})"
                        ) from None
                    time.sleep(0.2)
            yield
        finally:
            os.close(fd)  # closing the descriptor releases the flock

    def publish(self, local_path: str, rel: str, *, log: logging.Logger | None = None) -> bool:
        """Copy a local file or folder to ``rel`` unless it is already there, never exposing partial data.

        The data is written to ``<parent>/.tmp-<uuid>-<name>`` and renamed to the target. When the target
        appeared in the meantime (another writer won), the temporary copy is removed and the existing
        target is kept.

        :param local_path: Local file or folder to upload.
        :param rel: Target path relative to the store root.
        :param log: Logger for progress messages.
        :return: True if this call created the target, False if it already existed.
        """
        log = log or _log
        target = self.path_for(rel)
        parent, name = target.rsplit("/", 1)
        tmp = f"{parent}/{TMP_PREFIX}{uuid.uuid4().hex}-{name}"
        is_dir = os.path.isdir(local_path)
        started = time.monotonic()
        try:
            if self.is_local:
                created = _publish_local(local_path, tmp, target, is_dir)
            else:
                created = self._publish_remote(local_path, tmp, target, is_dir)
        except StagingError:
            raise
        except Exception as exc:
            raise StagingError(f"Uploading {local_path} to {self.uri_for(rel)} failed: {exc}") from exc
        if created:
            log.info("Uploaded %s to %s in %.2f s", local_path, self.uri_for(rel), time.monotonic() - started)
        else:
            log.info("%s was published by another writer meanwhile; keeping it", self.uri_for(rel))
        return created

    def _publish_remote(self, local_path: str, tmp: str, target: str, is_dir: bool) -> bool:
        fs = self.fs
        fs.makedirs(tmp.rsplit("/", 1)[0], exist_ok=True)
        if is_dir:
            fs.put(local_path.rstrip("/") + "/", tmp, recursive=True)
        else:
            fs.put_file(local_path, tmp)
        if fs.exists(target):
            fs.rm(tmp, recursive=is_dir)
            return False
        fs.mv(tmp, target, recursive=is_dir)
        # HDFS moves a folder INTO an existing folder: if a concurrent writer created the target between
        # the check and the rename, our copy landed at <target>/<tmp name>; drop it.
        nested = f"{target}/{tmp.rsplit('/', 1)[1]}"
        if is_dir and fs.exists(nested):
            fs.rm(nested, recursive=True)
            return False
        return True


def _publish_local(local_path: str, tmp: str, target: str, is_dir: bool) -> bool:
    os.makedirs(os.path.dirname(target), exist_ok=True)
    if os.path.exists(target):
        return False
    if is_dir:
        shutil.copytree(local_path, tmp)
        try:
            os.rename(tmp, target)  # fails on an existing non-empty folder: never replaces
        except OSError:
            shutil.rmtree(tmp, ignore_errors=True)
            if os.path.exists(target):
                return False
            raise
        return True
    shutil.copyfile(local_path, tmp)
    os.chmod(tmp, 0o644)
    try:
        os.link(tmp, target)  # atomic and never replaces an existing target
        return True
    except FileExistsError:
        return False
    except OSError:  # filesystems without hard links
        if os.path.exists(target):
            return False
        os.rename(tmp, target)
        return True
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def open_store(uri: str, storage_options: dict[str, Any] | None = None) -> Store:
    """Open a store from a URI.

    :param uri: ``file:///abs/dir`` (or a plain absolute/relative local path), ``hdfs://nn:8020/dir``
        or ``webhdfs://host:port/dir``; any other fsspec protocol works as far as Spark can read it.
    :param storage_options: Keyword arguments for the fsspec filesystem (e.g. ``{"user": "etl"}`` for
        HDFS, ``{"kerb_ticket": ...}``).
    :raises StagingError: if the URI is empty or the filesystem cannot be opened.
    """
    if not uri:
        raise StagingError("A store URI is required (for example file:///var/spark-predict/stage)")
    if "://" not in uri:
        uri = "file://" + os.path.abspath(uri)
    scheme = urlsplit(uri).scheme
    if scheme == "file":
        path = urlsplit(uri).path
        if not path.startswith("/"):
            raise StagingError(f"A file:// store needs an absolute path, got {uri!r}")
        os.makedirs(path, exist_ok=True)
        import fsspec

        return Store("file://" + path, fsspec.filesystem("file"), path)
    try:
        from fsspec.core import url_to_fs

        fs, root_path = url_to_fs(uri, **(storage_options or {}))
        fs.makedirs(root_path, exist_ok=True)
    except Exception as exc:
        hint = ""
        if scheme == "hdfs":
            hint = (
                " (hdfs:// goes through pyarrow's HadoopFileSystem: it needs libhdfs, JAVA_HOME, "
                "HADOOP_HOME and CLASSPATH=$(hadoop classpath --glob); webhdfs:// needs only HTTP)"
            )
        raise StagingError(f"Cannot open store {uri!r}: {exc}{hint}") from exc
    return Store(uri, fs, root_path)


def local_path(uri: str) -> str:
    """Return ``uri`` without a leading ``file://`` (other URIs and plain paths unchanged).

    :param uri: A ``file://`` URI, another URI, or a path.
    """
    return uri[len("file://") :] if uri.startswith("file://") else uri

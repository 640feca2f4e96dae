"""Staging a model file or folder into a store by content hash."""

from __future__ import annotations

import logging
import os
import posixpath
import time
from urllib.parse import urlsplit

from airflow_provider_spark_predict.exceptions import StagingError
from airflow_provider_spark_predict.staging.artifact import UNKNOWN_SIZE, StagedArtifact
from airflow_provider_spark_predict.staging.hashing import sha256_file, sha256_tree
from airflow_provider_spark_predict.staging.store import Store

_log = logging.getLogger(__name__)

#: Hex digits of the content hash used in staged names.
HASH_CHARS = 16


def _local_path(path_or_uri: str) -> str | None:
    """Return the local path of a plain path or ``file://`` URI, or None for a remote URI."""
    parts = urlsplit(path_or_uri)
    if parts.scheme == "file":
        return parts.path
    if "://" in path_or_uri:
        return None
    return os.path.abspath(path_or_uri)


def stage_file(
    local_path_or_uri: str, store: Store, *, kind: str = "model", log: logging.Logger | None = None
) -> StagedArtifact:
    """Put a file or folder into the store under a content-hash name, uploading only if absent.

    The target is ``<store>/<kind>s/<sha256[:16]>/<basename>``. A folder (for example a Spark ML
    ``PipelineModel``) is staged as a folder; its hash covers the relative paths, sizes and contents of
    all files. Concurrent calls for the same content upload at most once (see :meth:`Store.publish`),
    and a half-written copy is never visible under the target name.

    A remote URI (``hdfs://``, ``s3a://``, ...) is passed through unchanged: it is assumed to be
    readable by Spark already, and it is neither read nor hashed (``sha256`` is empty and
    ``size_bytes`` is ``-1``).

    :param local_path_or_uri: Local path, ``file://`` URI, or remote URI.
    :param store: Target store (from :func:`open_store`).
    :param kind: Category; names the top folder in the store (``model`` -> ``models/``).
    :param log: Logger for progress messages; defaults to this module's logger.
    :raises StagingError: if the local path does not exist.
    """
    log = log or _log
    started = time.monotonic()
    local = _local_path(local_path_or_uri)
    if local is None:
        name = posixpath.basename(urlsplit(local_path_or_uri).path.rstrip("/"))
        log.info("Using %s %s as is (already remote)", kind, local_path_or_uri)
        return StagedArtifact(local_path_or_uri, "", UNKNOWN_SIZE, True, time.monotonic() - started, name)
    if not os.path.exists(local):
        raise StagingError(f"Cannot stage {kind} {local_path_or_uri!r}: no such file or folder")
    local = local.rstrip("/") or "/"
    name = os.path.basename(local)
    if os.path.isdir(local):
        sha, size = sha256_tree(local)
    else:
        sha, size = sha256_file(local), os.path.getsize(local)
    rel = f"{kind}s/{sha[:HASH_CHARS]}/{name}"
    log.info(
        "Staging %s %s (%d bytes, sha256 %s) to %s", kind, local, size, sha[:HASH_CHARS], store.uri_for(rel)
    )
    cache_hit = True
    if not store.exists(rel):
        with store.lock(rel, log=log):
            if not store.exists(rel):
                cache_hit = not store.publish(local, rel, log=log)
    seconds = time.monotonic() - started
    log.info(
        "%s %s: %s in %.2f s", kind, "cache hit" if cache_hit else "uploaded", store.uri_for(rel), seconds
    )
    return StagedArtifact(store.uri_for(rel), sha, size, cache_hit, seconds, name)

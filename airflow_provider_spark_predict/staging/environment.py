"""Stage a Python environment: fingerprint, reuse the archive if the store has it, else pack and upload."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import posixpath
import shutil
import tempfile
import time
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

from airflow_provider_spark_predict.staging.artifact import UNKNOWN_SIZE, StagedArtifact
from airflow_provider_spark_predict.staging.check import check_environment
from airflow_provider_spark_predict.staging.fingerprint import fingerprint_from_probe, resolve_environment
from airflow_provider_spark_predict.staging.pack import DEFAULT_COMPRESS_LEVEL, pack_environment
from airflow_provider_spark_predict.staging.probe import probe_environment
from airflow_provider_spark_predict.staging.store import Store

_log = logging.getLogger(__name__)

#: Folder of environment archives under the store root.
ENV_FOLDER = "environments"


def stage_environment(
    env: dict[str, Any] | None,
    store: Store,
    *,
    required_modules: Sequence[str] = (),
    log: logging.Logger | None = None,
) -> StagedArtifact | None:
    """Make a packed copy of a Python environment available in the store, packing only when needed.

    Steps: run the environment's interpreter to read what determines it (Python version, platform,
    exact package list) and to look for editable installs; hash that into the archive name
    ``<store>/environments/<kind>-<hash16>.tar.gz``. Check that ``required_modules`` import
    (:func:`check_environment`) unless a record ``<archive>.checked-<hash of the specs>.json`` in the
    store says they already did for this fingerprint. If the store has the archive, it is a cache hit
    and nothing is packed (the cheap path on every day after the first). Otherwise take a lock
    (``file://`` stores), pack to a local temporary file, and publish it atomically.

    :param env: ``None`` (use the driver's interpreter, e.g. ``local[*]``: returns ``None``);
        ``{"kind": "venv", "path": "/opt/envs/score"}`` (``path`` defaults to the running venv);
        ``{"kind": "conda", "name": "score"}`` or ``{"kind": "conda", "prefix": "/opt/conda/envs/score"}``;
        ``{"kind": "archive", "uri": "hdfs://nn/envs/score.tar.gz"}`` (ready archive, used as is).
        Optional keys: ``compress_level`` (gzip 0-9), ``tmp_dir`` (local folder for packing).
    :param store: Where archives live (from :func:`open_store`).
    :param required_modules: Modules the job needs in the environment, e.g.
        ``["pandas", "pyarrow", "xgboost==3.2.0"]``.
    :param log: Logger for progress messages; defaults to this module's logger.
    :return: The staged archive, or ``None`` when ``env`` is ``None``.
    :raises StagingError: when the environment is unusable or packing/uploading fails.
    """
    if env is None:
        return None
    log = log or _log
    started = time.monotonic()
    source = resolve_environment(env)
    if source.kind == "archive":
        name = posixpath.basename(urlsplit(source.uri).path)
        log.info("Using ready environment archive %s as is", source.uri)
        return StagedArtifact(source.uri, "", UNKNOWN_SIZE, True, time.monotonic() - started, name)

    required = sorted(set(required_modules))
    probe = probe_environment(source.python)
    check_environment(source.python, [], log=log, probe=probe)  # editable installs, system site-packages
    fingerprint = fingerprint_from_probe(source, probe)
    rel = f"{ENV_FOLDER}/{fingerprint.archive_name}"
    uri = store.uri_for(rel)
    log.info(
        "Environment %s: Python %s, %d packages, fingerprint %s (%.2f s) -> %s",
        source.prefix,
        probe["python_version"],
        len(probe["packages"]),
        fingerprint.sha256[:16],
        time.monotonic() - started,
        uri,
    )
    check_rel = _check_record_rel(rel, required)
    verified = None
    if check_rel and store.exists(check_rel):
        log.info("Required modules %s already verified for this fingerprint (%s)", required, check_rel)
    elif required:
        verified = check_environment(
            source.python, required, log=log, probe=probe_environment(source.python, required)
        )

    cache_hit = True
    if store.exists(rel):
        log.info("Cache hit: %s is already staged; not packing", uri)
    else:
        with store.lock(rel, log=log):
            if store.exists(rel):
                log.info("Cache hit after waiting: %s was staged by another process", uri)
            else:
                log.info("Cache miss: packing %s", source.prefix)
                cache_hit = _pack_and_publish(source.kind, source.prefix, store, rel, env, log)
    if check_rel and verified is not None:
        _publish_check_record(store, check_rel, fingerprint.sha256, verified, log)
    size = store.size(rel)
    seconds = time.monotonic() - started
    log.info(
        "Environment staged: %s (%.1f MB, %s) in %.2f s",
        uri,
        size / 1e6,
        "cache hit" if cache_hit else "packed and uploaded",
        seconds,
    )
    return StagedArtifact(uri, fingerprint.sha256, size, cache_hit, seconds, fingerprint.archive_name)


def _check_record_rel(archive_rel: str, required: list[str]) -> str | None:
    """Store path of the record saying "these module specs import in this archive's environment"."""
    if not required:
        return None
    digest = hashlib.sha256("\n".join(required).encode()).hexdigest()[:12]
    return f"{archive_rel}.checked-{digest}.json"


def _publish_check_record(
    store: Store, rel: str, sha256: str, versions: dict[str, str | None], log: logging.Logger
) -> None:
    """Record a passed module check next to the archive so later stagings skip the imports."""
    with tempfile.TemporaryDirectory(prefix="spark-predict-check-") as tmp:
        path = os.path.join(tmp, posixpath.basename(rel))
        with open(path, "w") as fh:
            json.dump({"fingerprint": sha256, "modules": versions}, fh, sort_keys=True)
        store.publish(path, rel, log=log)


def _pack_and_publish(
    kind: str, prefix: str, store: Store, rel: str, env: dict[str, Any], log: logging.Logger
) -> bool:
    """Pack into a local temp folder and publish; return True when the store already had it (a hit)."""
    tmp_dir = tempfile.mkdtemp(prefix="spark-predict-env-", dir=env.get("tmp_dir"))
    try:
        archive = os.path.join(tmp_dir, posixpath.basename(rel))
        level = int(env.get("compress_level", DEFAULT_COMPRESS_LEVEL))
        pack_environment(kind, prefix, archive, compress_level=level, log=log)
        return not store.publish(archive, rel, log=log)
    finally:
        shutil.rmtree(tmp_dir, ignore_errors=True)

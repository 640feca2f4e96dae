"""What determines an environment, reduced to one hash (computed without packing anything)."""

from __future__ import annotations

import dataclasses
import glob
import hashlib
import json
import os
import sys
from typing import Any

from airflow_provider_spark_predict.exceptions import StagingError
from airflow_provider_spark_predict.staging.probe import probe_environment

#: Bump when the archive layout or the packing options change, so old archives are not reused.
FINGERPRINT_VERSION = 1
#: Hex digits of the fingerprint used in archive names.
HASH_CHARS = 16
ENV_KINDS = ("venv", "conda", "archive")


@dataclasses.dataclass(frozen=True)
class EnvironmentSource:
    """A resolved environment description.

    :param kind: ``venv``, ``conda`` or ``archive``.
    :param prefix: Environment folder (empty for ``archive``).
    :param python: The environment's interpreter (empty for ``archive``).
    :param uri: Ready archive URI (``archive`` only).
    """

    kind: str
    prefix: str = ""
    python: str = ""
    uri: str = ""


@dataclasses.dataclass(frozen=True)
class EnvironmentFingerprint:
    """The content hash of an environment and what went into it.

    :param source: The resolved environment.
    :param sha256: Hex SHA-256 of the canonical JSON of ``inputs``.
    :param inputs: Python version, platform, package list (and conda records) that were hashed.
    :param probe: Full probe report of the environment's interpreter (see :mod:`.probe`).
    """

    source: EnvironmentSource
    sha256: str
    inputs: dict[str, Any]
    probe: dict[str, Any]

    @property
    def archive_name(self) -> str:
        """File name of the packed archive, e.g. ``venv-0123456789abcdef.tar.gz``."""
        return f"{self.source.kind}-{self.sha256[:HASH_CHARS]}.tar.gz"


def resolve_environment(env: dict[str, Any]) -> EnvironmentSource:
    """Turn a user's environment dict into an :class:`EnvironmentSource`.

    :param env: ``{"kind": "venv", "path": ...}`` (path defaults to the running venv),
        ``{"kind": "conda", "name": ...}`` or ``{"kind": "conda", "prefix": ...}``,
        ``{"kind": "archive", "uri": ...}``.
    :raises StagingError: on an unknown kind or missing field.
    """
    kind = env.get("kind")
    if kind not in ENV_KINDS:
        raise StagingError(f"environment kind must be one of {ENV_KINDS}, got {kind!r} in {env!r}")
    if kind == "archive":
        uri = env.get("uri")
        if not uri:
            raise StagingError(f"an environment of kind 'archive' needs 'uri', got {env!r}")
        return EnvironmentSource("archive", uri=str(uri))
    if kind == "venv":
        path = env.get("path")
        if not path:
            if sys.prefix == sys.base_prefix:
                raise StagingError(
                    "environment {'kind': 'venv'} without 'path' means the running venv, but this "
                    f"interpreter ({sys.executable}) is not in a venv: give 'path'"
                )
            path = sys.prefix
        prefix = os.path.abspath(str(path))
        if not os.path.isdir(prefix):
            raise StagingError(f"venv folder {prefix} does not exist")
        return EnvironmentSource("venv", prefix, os.path.join(prefix, "bin", "python"))
    conda_prefix = env.get("prefix")
    if not conda_prefix:
        name = env.get("name")
        if not name:
            raise StagingError(f"an environment of kind 'conda' needs 'name' or 'prefix', got {env!r}")
        conda_prefix = _conda_name_to_prefix(str(name))
    prefix = os.path.abspath(str(conda_prefix))
    if not os.path.isdir(os.path.join(prefix, "conda-meta")):
        raise StagingError(f"{prefix} is not a conda environment (it has no conda-meta folder)")
    return EnvironmentSource("conda", prefix, os.path.join(prefix, "bin", "python"))


def _conda_name_to_prefix(name: str) -> str:
    try:
        from conda_pack.core import name_to_prefix
    except ImportError as exc:
        raise StagingError(
            "conda environments need conda-pack: pip install 'airflow-provider-spark-predict[conda]'"
        ) from exc
    try:
        return str(name_to_prefix(name))
    except Exception as exc:
        raise StagingError(
            f"Cannot find conda environment {name!r} (is conda on PATH? or give 'prefix'): {exc}"
        ) from exc


def conda_records(prefix: str) -> list[str]:
    """Return ``name=version=build=channel`` for each package in ``<prefix>/conda-meta``, sorted.

    :param prefix: Conda environment folder.
    """
    records = []
    for path in sorted(glob.glob(os.path.join(prefix, "conda-meta", "*.json"))):
        try:
            with open(path) as fh:
                meta = json.load(fh)
        except (OSError, ValueError) as exc:
            raise StagingError(f"Unreadable conda metadata {path}: {exc}") from exc
        if not isinstance(meta, dict) or "name" not in meta:
            continue
        records.append("=".join(str(meta.get(key, "")) for key in ("name", "version", "build", "channel")))
    return sorted(records)


def fingerprint_from_probe(source: EnvironmentSource, probe: dict[str, Any]) -> EnvironmentFingerprint:
    """Hash what determines the environment: interpreter, platform and exact package list.

    For a venv the base interpreter's location is included too, because a venv-pack archive's
    ``bin/python`` links to it (it must exist at the same path on every node).

    :param source: The resolved environment.
    :param probe: Report of :func:`probe_environment` for ``source.python``.
    """
    inputs: dict[str, Any] = {
        "fingerprint_version": FINGERPRINT_VERSION,
        "kind": source.kind,
        "implementation": probe["implementation"],
        "python_version": probe["python_version"],
        "platform": probe["platform"],
        "soabi": probe["soabi"],
        "packages": sorted(probe["packages"]),
    }
    if source.kind == "venv":
        inputs["base_prefix"] = probe["base_prefix"]
    if source.kind == "conda":
        inputs["conda_packages"] = conda_records(source.prefix)
    canonical = json.dumps(inputs, sort_keys=True, separators=(",", ":"))
    return EnvironmentFingerprint(source, hashlib.sha256(canonical.encode()).hexdigest(), inputs, probe)


def environment_fingerprint(env: dict[str, Any]) -> EnvironmentFingerprint:
    """Compute an environment's fingerprint without packing it (one run of its interpreter).

    :param env: Environment dict as for :func:`stage_environment` (kind ``venv`` or ``conda``).
    :raises StagingError: for ``archive`` (nothing to fingerprint) or when the interpreter fails.
    """
    source = resolve_environment(env)
    if source.kind == "archive":
        raise StagingError("a ready archive has no fingerprint: its URI is used as is")
    return fingerprint_from_probe(source, probe_environment(source.python))

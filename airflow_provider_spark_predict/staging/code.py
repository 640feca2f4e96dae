"""This package's own code, zipped for ``--py-files`` and staged by content hash.

Executors import the model cache and the job from it; the zip's name carries the hash of its bytes, so
a code change gives a new staged file and an unchanged package is a cache hit.
"""

from __future__ import annotations

import hashlib
import io
import logging
import os
import uuid
import zipfile

from airflow_provider_spark_predict.staging.artifact import StagedArtifact
from airflow_provider_spark_predict.staging.files import stage_file
from airflow_provider_spark_predict.staging.store import Store

#: The ``airflow_provider_spark_predict`` folder that is zipped.
PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def package_zip() -> tuple[str, bytes]:
    """Zip this package (``.py`` and ``py.typed`` files, fixed timestamps); return ``(name, bytes)``.

    The name is ``airflow_provider_spark_predict-<16 hex of sha256>.zip``: equal code, equal name.
    """
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for root, dirs, files in os.walk(PACKAGE_DIR):
            dirs[:] = sorted(d for d in dirs if d != "__pycache__")
            for name in sorted(files):
                if name.endswith((".py", ".typed")):
                    full = os.path.join(root, name)
                    arc = os.path.relpath(full, os.path.dirname(PACKAGE_DIR))
                    info = zipfile.ZipInfo(arc, date_time=(2020, 1, 1, 0, 0, 0))
                    with open(full, "rb") as fh:
                        zf.writestr(info, fh.read())
    data = buf.getvalue()
    return f"airflow_provider_spark_predict-{hashlib.sha256(data).hexdigest()[:16]}.zip", data


def stage_code(store: Store, cache_dir: str, *, log: logging.Logger | None = None) -> StagedArtifact:
    """Write the package zip to ``cache_dir`` (once per content) and stage it in ``store``.

    :param store: where the zip is staged (kind ``code``)
    :param cache_dir: local folder that keeps the written zips (atomic write: temporary name, rename)
    :param log: logger for staging messages
    """
    name, data = package_zip()
    path = os.path.join(cache_dir, name)
    if not os.path.exists(path):
        os.makedirs(cache_dir, exist_ok=True)
        tmp = f"{path}.tmp-{uuid.uuid4().hex}"
        with open(tmp, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    return stage_file(path, store, kind="code", log=log)

"""Packing an environment folder into a relocatable archive (venv-pack, conda-pack)."""

from __future__ import annotations

import logging
import os
import time

from airflow_provider_spark_predict.exceptions import StagingError

_log = logging.getLogger(__name__)

#: gzip level: 1 packs a 1 GB environment several times faster than 9 for a slightly larger archive.
DEFAULT_COMPRESS_LEVEL = 4


def pack_environment(
    kind: str,
    prefix: str,
    output: str,
    *,
    compress_level: int = DEFAULT_COMPRESS_LEVEL,
    log: logging.Logger | None = None,
) -> int:
    """Pack ``prefix`` into the ``.tar.gz`` file ``output`` and make it world-readable (0644).

    :param kind: ``venv`` (venv-pack) or ``conda`` (conda-pack).
    :param prefix: Environment folder.
    :param output: Local archive path to write (must not exist).
    :param compress_level: gzip level 0-9.
    :param log: Logger for progress messages.
    :return: Size of the archive in bytes.
    :raises StagingError: if the packer fails (its message is included).
    """
    log = log or _log
    started = time.monotonic()
    log.info("Packing %s environment %s with %s-pack", kind, prefix, kind)
    try:
        if kind == "venv":
            import venv_pack

            venv_pack.pack(prefix=prefix, output=output, format="tar.gz", compress_level=compress_level)
        elif kind == "conda":
            try:
                import conda_pack
            except ImportError as exc:
                raise StagingError(
                    "packing a conda environment needs conda-pack: "
                    "pip install 'airflow-provider-spark-predict[conda]'"
                ) from exc
            conda_pack.pack(
                prefix=prefix,
                output=output,
                format="tar.gz",
                compress_level=compress_level,
                n_threads=os.cpu_count() or 1,
            )
        else:
            raise StagingError(f"cannot pack an environment of kind {kind!r}")
    except StagingError:
        raise
    except Exception as exc:
        raise StagingError(f"{kind}-pack failed on {prefix}: {exc}") from exc
    # venv-pack writes the archive with mode 0600; YARN/Spark on other users' nodes need to read it.
    os.chmod(output, 0o644)
    size = os.path.getsize(output)
    log.info("Packed %s into %s: %.1f MB in %.1f s", prefix, output, size / 1e6, time.monotonic() - started)
    return size

"""Spark configuration that makes executors (and the driver, where needed) run a staged environment."""

from __future__ import annotations

import sys

from airflow_provider_spark_predict.exceptions import StagingError
from airflow_provider_spark_predict.staging.artifact import StagedArtifact

#: Folder name the archive is unpacked under in each container's working directory.
DEFAULT_ALIAS = "environment"


def _split_alias(uri: str) -> tuple[str, str]:
    base, sep, alias = uri.partition("#")
    return (base, alias) if sep and alias else (uri, DEFAULT_ALIAS)


def environment_spark_conf(
    staged: StagedArtifact | str | None,
    *,
    master: str,
    deploy_mode: str = "client",
    env_kind: str = "venv",
    driver_python: str | None = None,
) -> dict[str, str]:
    """Return the Spark conf that ships a staged environment archive and runs Python from it.

    ``A`` is the archive URI with ``#environment`` appended (an alias already in the URI is kept),
    ``P`` is ``./environment/bin/python`` and ``D`` is ``driver_python`` (default ``sys.executable``):

    ============================  ========================================  ===============================
    master / deploy mode          keys                                      why
    ============================  ========================================  ===============================
    ``local``, ``local[*]``       (none: ``{}``)                            driver and Python workers run
                                                                            on this machine with the
                                                                            driver's interpreter
    ``spark://`` client           ``spark.archives=A``,                     executors unpack A into their
    ``local-cluster[...]``        ``spark.pyspark.python=P``,               working dir and run P; the
                                  ``spark.pyspark.driver.python=D``         driver runs locally with D
    ``spark://`` cluster          (raises :class:`StagingError`)            Spark does not support Python
                                                                            apps in standalone cluster mode
    ``k8s://`` client             ``spark.archives=A``,                     as standalone client
                                  ``spark.pyspark.python=P``,
                                  ``spark.pyspark.driver.python=D``
    ``k8s://`` cluster            ``spark.archives=A``,                     the driver pod unpacks A too
                                  ``spark.pyspark.python=P``                and runs P
    ``yarn`` client               ``spark.archives=A``,                     YARN localises A per node
                                  ``spark.pyspark.python=P``,               (cached by URL: keep the name
                                  ``spark.pyspark.driver.python=D``         stable, it is a content hash)
    ``yarn`` cluster              ``spark.archives=A``,                     the application master (the
                                  ``spark.pyspark.python=P``,               driver) runs P from its
                                  ``spark.yarn.appMasterEnv.PYSPARK_PYTHON  container
                                  =P``
    ============================  ========================================  ===============================

    ``spark.archives`` needs Spark >= 3.1; on older YARN clusters use ``spark.yarn.dist.archives``
    with the same value instead. A venv-pack archive's ``bin/python`` links to the base interpreter
    (e.g. ``/usr/bin/python3.11``), which must exist at the same path on every node; a conda-pack
    archive carries its interpreter. The driver's Python must have the same minor version as the
    environment's (pickled functions cross between them).

    :param staged: The staged archive (or its URI); ``None`` gives ``{}``.
    :param master: Spark master URL (``local[*]``, ``spark://h:7077``, ``k8s://https://h``, ``yarn``).
    :param deploy_mode: ``client`` or ``cluster``.
    :param env_kind: ``venv``, ``conda`` or ``archive`` (the python path inside is the same).
    :param driver_python: Interpreter that runs the driver in client mode; default ``sys.executable``.
    :raises StagingError: on an unknown master, deploy mode or kind, or standalone cluster mode.
    """
    if deploy_mode not in ("client", "cluster"):
        raise StagingError(f"deploy_mode must be 'client' or 'cluster', got {deploy_mode!r}")
    if env_kind not in ("venv", "conda", "archive"):
        raise StagingError(f"env_kind must be 'venv', 'conda' or 'archive', got {env_kind!r}")
    master = master.strip()
    if staged is None or master == "local" or master.startswith("local["):
        return {}
    uri = staged.uri if isinstance(staged, StagedArtifact) else str(staged)
    base, alias = _split_alias(uri)
    python = f"./{alias}/bin/python"
    conf = {"spark.archives": f"{base}#{alias}", "spark.pyspark.python": python}
    driver = driver_python or sys.executable
    if master.startswith(("spark://", "local-cluster")):
        if deploy_mode == "cluster":
            raise StagingError(
                "Spark does not run Python applications in cluster deploy mode on a standalone master "
                f"({master}); use deploy_mode='client'"
            )
        conf["spark.pyspark.driver.python"] = driver
    elif master.startswith("k8s://"):
        if deploy_mode == "client":
            conf["spark.pyspark.driver.python"] = driver
    elif master.startswith("yarn"):
        if deploy_mode == "client":
            conf["spark.pyspark.driver.python"] = driver
        else:
            conf["spark.yarn.appMasterEnv.PYSPARK_PYTHON"] = python
    else:
        raise StagingError(f"Unknown Spark master {master!r} (expected local[...], spark://, k8s://, yarn)")
    return conf

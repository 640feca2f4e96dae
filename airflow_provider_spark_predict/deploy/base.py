"""What every deployment backend shares: the resolved target and the small backend interface.

A :class:`Deployment` knows one kind of Spark master (local, standalone, YARN, Kubernetes) and owns
what differs between them: the Spark conf, the environment of spark-submit, the tracking options of
:class:`~airflow.providers.apache.spark.hooks.spark_submit.SparkSubmitHook`, which application to
record and follow after submission, re-attaching to it on a retry, and killing it.

The Spark provider has no public API for the resolved master, the YARN application id, the driver pod
or following a cluster-mode application; the private members of ``SparkSubmitHook`` needed for those
are used only in this package (each backend uses its own), and
``tests/test_provider_pin.py`` checks that they exist in the pinned provider range.
"""

from __future__ import annotations

import functools
import logging
import sys
from dataclasses import dataclass, field
from typing import Any

from airflow_provider_spark_predict.exceptions import SparkPredictError, SpecError

#: Connection id the log and the submit hook use for the embedded ``local[*]`` default.
EMBEDDED_CONN = "spark_predict_embedded"
#: Master of the embedded default.
EMBEDDED_MASTER = "local[*]"


@dataclass(frozen=True)
class Target:
    """A Spark connection resolved to where and how the application runs.

    :param conn_id: the Airflow connection (:data:`EMBEDDED_CONN` for the embedded default)
    :param master: Spark master URL as the provider builds it (``local[*]``, ``yarn``, ``spark://h:7077``)
    :param deploy_mode: ``client`` or ``cluster`` (resolved: argument, else connection extra, else client)
    :param deploy_mode_arg: the ``deploy_mode`` argument as given (``None``: the connection decides)
    :param extra: the connection's extra (``{}`` for the embedded default)
    :param embedded: True when no connection exists and the embedded ``local[*]`` default is used
    """

    conn_id: str
    master: str
    deploy_mode: str
    deploy_mode_arg: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    embedded: bool = False


def submit_hook_class(embedded: bool) -> type[Any]:
    """``SparkSubmitHook``, or for the embedded default a subclass that needs no stored connection.

    The subclass answers :meth:`get_connection` (the public ``BaseHook`` class method the provider calls
    to resolve its connection) with an in-memory ``local[*]`` Spark connection, so nothing is written to
    ``os.environ`` or the metadata database.

    :param embedded: True for the embedded default
    """
    from airflow.providers.apache.spark.hooks.spark_submit import SparkSubmitHook

    return embedded_submit_hook() if embedded else SparkSubmitHook


@functools.cache
def embedded_submit_hook() -> type[Any]:
    """The ``SparkSubmitHook`` subclass of the embedded default (built once, on first use)."""
    from airflow.providers.apache.spark.hooks.spark_submit import SparkSubmitHook
    from airflow.sdk import Connection

    class _EmbeddedSubmitHook(SparkSubmitHook):
        """SparkSubmitHook on the embedded ``local[*]`` connection (no stored connection needed)."""

        @classmethod
        def get_connection(cls, conn_id: str) -> Connection:
            return Connection(conn_id=EMBEDDED_CONN, conn_type="spark", host=EMBEDDED_MASTER)

    return _EmbeddedSubmitHook


def resolve_target(conn_id: str, default_conn_id: str, deploy_mode: str | None,
                   log: logging.Logger) -> Target:
    """Resolve a connection id to a :class:`Target` without changing ``os.environ``.

    :param conn_id: the Spark connection to use
    :param default_conn_id: the hook's default connection; only it falls back to the embedded default
        when it does not exist
    :param deploy_mode: ``client``/``cluster`` overriding the connection's ``deploy-mode`` extra
    :param log: logger (says when the embedded default is used)
    :raises SparkPredictError: a connection other than the default does not exist, or the deploy mode
        is neither client nor cluster
    """
    from airflow.sdk import BaseHook

    extra: dict[str, Any] = {}
    embedded = False
    try:
        extra = dict(BaseHook.get_connection(conn_id).extra_dejson or {})
    except Exception:  # noqa: BLE001 - AirflowNotFoundException and friends
        if conn_id != default_conn_id:
            raise SparkPredictError(f"Spark connection {conn_id!r} does not exist") from None
        embedded = True
        from airflow_provider_spark_predict import embedded as embedded_default

        log.warning("Spark connection %s does not exist: using the embedded default (%s, embedded Hive "
                    "metastore under %s)", conn_id, EMBEDDED_MASTER, embedded_default.data_home())
    used_conn = EMBEDDED_CONN if embedded else conn_id
    # The provider's own resolution (master URL from host/port/conn_type, deploy-mode extra): there is
    # no public accessor, so read the resolved dict it keeps.
    probe = submit_hook_class(embedded)(conn_id=used_conn, deploy_mode=deploy_mode)
    resolved = probe._connection
    mode = resolved["deploy_mode"] or "client"
    if mode not in ("client", "cluster"):
        raise SparkPredictError(f"deploy_mode must be 'client' or 'cluster', got {mode!r}")
    return Target(conn_id=used_conn, master=str(resolved["master"]), deploy_mode=mode,
                  deploy_mode_arg=deploy_mode, extra=extra, embedded=embedded)


class Deployment:
    """One kind of Spark master: its conf, submit hook, tracking, re-attach and kill.

    Subclasses override what differs; the defaults are a plain spark-submit that runs to completion.

    :param target: the resolved connection
    :param track_via_api: follow cluster-mode applications through the cluster's API (YARN, k8s)
    :param log: logger
    """

    #: Short name for logs and tests.
    name = "spark"
    #: ``SparkSubmitHook`` flag that follows a cluster-mode application through the cluster's API
    #: (``None``: the backend has no such API; spark-submit runs to the end).
    api_tracking_flag: str | None = None

    def __init__(self, target: Target, *, track_via_api: bool = False, log: logging.Logger | None = None) -> None:
        self.target = target
        self.log = log or logging.getLogger(__name__)
        self.validate()
        self.track_via_api = track_via_api and self.can_track_via_api()
        if track_via_api and not self.track_via_api:
            self.log.warning("track_via_api applies to YARN/Kubernetes cluster mode only; ignored for %s "
                             "(%s mode)", target.master, target.deploy_mode)

    @property
    def master(self) -> str:
        return self.target.master

    @property
    def cluster_mode(self) -> bool:
        return self.target.deploy_mode == "cluster"

    def validate(self) -> None:
        """Refuse a master/deploy mode combination that cannot run (before anything is staged)."""

    def can_track_via_api(self) -> bool:
        """True when the cluster's API can follow the application (``track_via_api`` applies): a
        backend with an :attr:`api_tracking_flag`, in cluster mode."""
        return self.api_tracking_flag is not None and self.cluster_mode

    # -- conf and submit hook ------------------------------------------------------------------------
    def base_conf(self, environment: Any) -> dict[str, Any]:
        """Conf of this master besides the environment's (subclasses add to it).

        :param environment: the staged environment archive, or ``None`` (this interpreter)
        """
        return {"spark.log.level": "WARN"}

    def conf(self, environment: Any, env_kind: str, user_conf: dict[str, Any]) -> dict[str, Any]:
        """The Spark conf: this master's, the environment archive's, then the user's (which wins).

        :param environment: the staged environment archive, or ``None``
        :param env_kind: ``venv``, ``conda`` or ``archive``
        :param user_conf: the hook's ``spark_conf``
        """
        from airflow_provider_spark_predict.staging import environment_spark_conf

        conf = self.base_conf(environment)
        if environment is not None:
            conf.update(environment_spark_conf(environment, master=self.master,
                                               deploy_mode=self.target.deploy_mode, env_kind=env_kind))
        conf.update(user_conf)
        return conf

    def run_conf(self, run_id: str) -> dict[str, Any]:
        """Conf that depends on the run (e.g. the Kubernetes driver pod's name), under :meth:`conf` (the
        user's conf wins); none by default.

        :param run_id: the run id
        """
        return {}

    def this_interpreter_conf(self) -> dict[str, str]:
        """Run the driver and the Python workers with this interpreter."""
        return {"spark.pyspark.python": sys.executable, "spark.pyspark.driver.python": sys.executable}

    def env_vars(self) -> dict[str, str] | None:
        """Environment variables for the spark-submit process (``None``: inherit)."""
        return None

    def tracking_kwargs(self) -> dict[str, Any]:
        """``SparkSubmitHook`` keyword arguments that switch on tracking through the cluster's API."""
        return {self.api_tracking_flag: True} if self.track_via_api and self.api_tracking_flag else {}

    def submit_hook(self, **kwargs: Any) -> Any:
        """A ``SparkSubmitHook`` on this target with the tracking options.

        :param kwargs: other ``SparkSubmitHook`` arguments (conf, py_files, name, application_args, ...)
        """
        args = {"conn_id": self.target.conn_id, "deploy_mode": self.target.deploy_mode_arg,
                **self.tracking_kwargs(), **kwargs}
        return submit_hook_class(self.target.embedded)(**args)

    # -- lifecycle -----------------------------------------------------------------------------------
    def submit(self, hook: Any, application: str) -> str | None:
        """Run spark-submit; return the id of an application left running to follow, else ``None``.

        :param hook: the submit hook of :meth:`submit_hook`
        :param application: the Python file to run
        """
        hook.submit(application)
        return self.submitted_id(hook) if self.track_via_api else None

    def submitted_id(self, hook: Any) -> str | None:
        """The id of the application spark-submit left running (tracked backends), for the record."""
        return None

    def follow(self, hook: Any, application_id: str) -> None:
        """Wait for an application that spark-submit left running (only when :meth:`submit` gave an id).

        :param hook: the submit hook
        :param application_id: the id :meth:`submit` returned
        """

    def attach(self, application_id: str) -> tuple[Any, str, bool] | None:
        """Re-attach to an application recorded by an earlier try.

        Returns ``(submit hook, cluster status, still active)``, or ``None`` when this backend cannot
        re-attach (then the run is submitted again).

        :param application_id: the recorded application id
        """
        return None

    def application_id(self, hook: Any) -> str | None:
        """The cluster's id of the submitted application, for the report (``None`` if it has none)."""
        return None

    def tracking_url(self, application_id: str | None) -> str | None:
        """A URL for the application when the job could not give one (its UI disabled, cluster mode)."""
        return None

    def kill(self, hook: Any) -> None:
        """Kill the application of ``hook`` (the provider's ``on_kill`` knows every master's way)."""
        hook.on_kill()

    # -- deferral ------------------------------------------------------------------------------------
    def check_deferrable(self) -> None:
        """Before anything is staged for ``deferrable=True``.

        :raises SpecError: this backend cannot defer, or the connection lacks what the trigger needs
        """
        raise SpecError(f"deferrable=True needs YARN or Kubernetes cluster mode; the connection gives "
                        f"{self.master} ({self.target.deploy_mode} mode)")

    def trigger(self, application_id: str, **kwargs: Any) -> Any:
        """The trigger that waits for ``application_id`` in the triggerer (``deferrable=True``).

        :param application_id: the id :meth:`submit` returned
        :param kwargs: :class:`~airflow_provider_spark_predict.triggers.base.ClusterApplicationTrigger`
            arguments (poll_interval, context, status_uri, storage_options)
        :raises SpecError: this backend cannot defer, or the connection lacks what the trigger needs
        """
        self.check_deferrable()
        raise AssertionError("unreachable: a backend that can defer overrides trigger()")

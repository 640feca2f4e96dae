"""The Spark provider installed is inside the range pyproject.toml pins, and every private member of
``SparkSubmitHook`` this package uses (only in ``airflow_provider_spark_predict/deploy/``) exists there
with the expected kind. A provider upgrade that moves one of them fails here, not on a cluster."""

from __future__ import annotations

import inspect
import re
import tomllib
from importlib.metadata import version
from pathlib import Path

import pytest
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parent.parent
PROVIDER = "apache-airflow-providers-apache-spark"

#: Private methods used, and where.
PRIVATE_METHODS = {
    "_start_yarn_application_status_tracking": "deploy/yarn.py follow()",
    "_poll_k8s_driver_via_api": "deploy/kubernetes.py follow()",
    "_should_track_yarn_application_via_rm_api": "tests only (argv tests)",
    "_should_track_driver_via_k8s_api": "tests only (argv tests)",
    "_build_spark_submit_command": "tests only (argv tests)",
}
#: Private attributes set in ``__init__`` (or by submit), and where.
PRIVATE_ATTRIBUTES = {
    "_connection": "deploy/base.py resolve_target() (resolved master and deploy mode)",
    "_yarn_application_id": "deploy/yarn.py application_id(), attach()",
    "_kubernetes_driver_pod": "deploy/kubernetes.py submit()",
    "_yarn_track_via_rm_api": "provider's on_kill: REST kill of a re-attached application",
}
#: Public members used.
PUBLIC_METHODS = ("submit", "on_kill", "query_yarn_application_status", "get_connection")
#: Keyword arguments passed to ``SparkSubmitHook(...)``.
INIT_KWARGS = ("conf", "conn_id", "py_files", "name", "application_args", "env_vars", "deploy_mode",
               "yarn_track_via_rm_api", "track_driver_via_k8s_api")


def pinned_requirement() -> Requirement:
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    return next(Requirement(d) for d in deps if Requirement(d).name == PROVIDER)


def test_installed_provider_is_inside_the_pinned_range():
    req = pinned_requirement()
    installed = version(PROVIDER)
    assert req.specifier, f"{PROVIDER} is not pinned in pyproject.toml"
    assert req.specifier.contains(installed), f"installed {PROVIDER} {installed} is outside {req.specifier}"
    assert any(s.operator in ("<", "<=", "~=", "==") for s in req.specifier), "the pin needs an upper bound"


@pytest.fixture(scope="module")
def submit_hook_cls():
    from airflow.providers.apache.spark.hooks.spark_submit import SparkSubmitHook

    return SparkSubmitHook


@pytest.mark.parametrize("name", sorted(PRIVATE_METHODS) + list(PUBLIC_METHODS))
def test_methods_exist_and_are_callable(submit_hook_cls, name):
    assert callable(getattr(submit_hook_cls, name, None)), f"SparkSubmitHook.{name} is gone"


def test_init_accepts_our_keyword_arguments(submit_hook_cls):
    params = inspect.signature(submit_hook_cls.__init__).parameters
    missing = [k for k in INIT_KWARGS if k not in params]
    assert not missing, f"SparkSubmitHook() no longer takes {missing}"


@pytest.mark.parametrize("name", sorted(PRIVATE_ATTRIBUTES))
def test_attributes_are_set_by_the_provider(submit_hook_cls, name, monkeypatch):
    """Built on a local master (no cluster needed): the attributes are instance attributes."""
    monkeypatch.setenv("AIRFLOW_CONN_PIN_CHECK", '{"conn_type": "spark", "host": "local[1]"}')
    hook = submit_hook_cls(conn_id="pin_check")
    assert hasattr(hook, name), f"SparkSubmitHook instances have no {name}"
    if name == "_connection":
        assert isinstance(hook._connection, dict)
        assert hook._connection["master"] == "local[1]" and "deploy_mode" in hook._connection


def test_the_private_members_we_use_are_the_listed_ones():
    """Every ``._name`` of a submit hook in deploy/ is listed above (a new use must be checked too)."""
    used = set()
    for path in (ROOT / "airflow_provider_spark_predict" / "deploy").glob("*.py"):
        used |= set(re.findall(r"(?:hook|probe)\.(_[a-z][a-z0-9_]*)", path.read_text()))
        used |= set(re.findall(r'getattr\(hook, "(_[a-z0-9_]+)"', path.read_text()))
    assert {"_connection", "_yarn_application_id", "_kubernetes_driver_pod"} <= used, (
        f"the patterns found only {used}: they no longer match the code")
    assert used <= set(PRIVATE_METHODS) | set(PRIVATE_ATTRIBUTES), used - set(PRIVATE_METHODS) - set(PRIVATE_ATTRIBUTES)

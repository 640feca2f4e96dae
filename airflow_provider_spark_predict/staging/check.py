"""Verify, before packing or submitting, that an environment can run the scoring job."""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from typing import Any

from airflow_provider_spark_predict.exceptions import StagingError
from airflow_provider_spark_predict.staging.probe import probe_environment

_log = logging.getLogger(__name__)
_SPEC = re.compile(r"^\s*([A-Za-z0-9_.\-]+)\s*((?:==|>=|<=|!=|~=|>|<).*)?$")


def _version_matches(version: str, specifier: str) -> bool:
    from packaging.specifiers import SpecifierSet
    from packaging.version import InvalidVersion, Version

    try:
        return Version(version) in SpecifierSet(specifier)
    except InvalidVersion:
        return specifier.startswith("==") and version == specifier[2:].strip()


def problems_from_probe(probe: dict[str, Any], required_modules: Sequence[str]) -> list[str]:
    """Return human-readable problems found in a probe report (empty list when all is well).

    :param probe: Report of :func:`~.probe.probe_environment` run with ``required_modules``.
    :param required_modules: Module specs (``"pandas"``, ``"xgboost==3.2.0"``, ``"pyarrow>=14"``).
    """
    problems = []
    if probe.get("system_site_packages"):
        problems.append(
            f"{probe['prefix']} was created with --system-site-packages; venv-pack cannot pack it. "
            "Recreate it without that option and install what the job needs into it"
        )
    for item in probe.get("editable", []):
        problems.append(
            f"package {item['name']} is an editable install ({item['url']}); packed archives cannot "
            f"carry it. Install it normally: pip install --no-deps --force-reinstall <path or version> "
            f"(not pip install -e)"
        )
    for item in probe.get("pth_outside_prefix", []):
        problems.append(
            f"{item['pth']} adds {item['path']} (outside the environment) to sys.path, like an editable "
            "install; it would not exist on the executors. Remove that .pth file or install the package"
        )
    modules = probe.get("modules", {})
    for spec in required_modules:
        match = _SPEC.match(spec)
        if not match:
            problems.append(f"cannot parse required module {spec!r} (use 'name' or 'name==version')")
            continue
        name, specifier = match.group(1), (match.group(2) or "").strip()
        result = modules.get(spec, {})
        if not result.get("ok"):
            error = result.get("error") or "not checked"
            problems.append(f"required module {name} cannot be imported in {probe['executable']}: {error}")
        elif specifier:
            version = result.get("version")
            if not version:
                problems.append(f"required module {name} has no detectable version (wanted {specifier})")
            elif not _version_matches(version, specifier):
                problems.append(f"required module {name} is version {version}, wanted {specifier}")
    return problems


def check_environment(
    python: str,
    required_modules: Sequence[str] = (),
    *,
    log: logging.Logger | None = None,
    probe: dict[str, Any] | None = None,
) -> dict[str, str | None]:
    """Run an environment's interpreter and check that it can run the job.

    Checks that the interpreter exists and runs, that every required module imports (at the required
    version, if one is given), that there are no editable installs (venv-pack refuses them and they
    would not exist on executors) and that a venv does not use system site-packages.

    :param python: The environment's interpreter, e.g. ``/opt/envs/score/bin/python``.
    :param required_modules: Module specs such as ``"pandas"``, ``"pyarrow"``, ``"xgboost==3.2.0"``;
        a distribution name (``"scikit-learn"``) is mapped to its module (``sklearn``).
    :param log: Logger; defaults to this module's logger.
    :param probe: A probe report already made with the same ``required_modules`` (saves a run).
    :return: ``{spec: version}`` of the required modules.
    :raises StagingError: listing every problem found.
    """
    log = log or _log
    required = list(required_modules)
    if probe is None:
        probe = probe_environment(python, required)
    problems = problems_from_probe(probe, required)
    if problems:
        raise StagingError(
            f"The Python environment {probe['prefix']} cannot be used:\n- " + "\n- ".join(problems)
        )
    versions = {spec: probe["modules"][spec].get("version") for spec in required}
    log.info(
        "Environment %s (Python %s) OK; required modules: %s",
        probe["prefix"],
        probe["python_version"],
        ", ".join(f"{k} {v}" for k, v in versions.items()) or "none",
    )
    return versions

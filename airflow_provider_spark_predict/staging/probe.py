"""Ask an environment's own interpreter what it contains.

The probe runs ``<env>/bin/python -I -c <script> <module specs...>`` and reads one JSON document from
its stdout: Python version and platform, the installed distributions, editable installs, and, for
each requested module, whether it imports and at which version. Running the environment's interpreter
(instead of reading files from here) is what makes the answer true for that environment.
"""

from __future__ import annotations

import json
import os
import subprocess
from typing import Any

from airflow_provider_spark_predict.exceptions import StagingError

#: Seconds the probe may take (it imports the required modules, e.g. pandas and xgboost).
PROBE_TIMEOUT = 300.0

_PROBE_SCRIPT = r"""
import importlib, json, os, platform, re, sys, sysconfig, traceback
import importlib.metadata as md

def canon(name):
    return re.sub(r"[-_.]+", "-", name).lower()

prefix = os.path.realpath(sys.prefix)
packages, editable = set(), []
for dist in md.distributions():
    name = dist.metadata["Name"]
    if not name:
        continue
    packages.add(canon(name) + "==" + dist.version)
    try:
        direct = json.loads(dist.read_text("direct_url.json") or "{}")
    except Exception:
        direct = {}
    if direct.get("dir_info", {}).get("editable"):
        editable.append({"name": name, "url": direct.get("url", "")})
outside = []
for site_dir in {p for p in sys.path if p.endswith("site-packages") and os.path.isdir(p)}:
    for fname in sorted(os.listdir(site_dir)):
        if not fname.endswith(".pth"):
            continue
        with open(os.path.join(site_dir, fname), errors="replace") as fh:
            for line in fh:
                line = line.strip()
                if not line or line.startswith(("#", "import ", "import\t")):
                    continue
                loc = os.path.realpath(os.path.join(site_dir, line))
                if not loc.startswith(prefix):
                    outside.append({"pth": fname, "path": line})

cfg = os.path.join(sys.prefix, "pyvenv.cfg")
system_site = False
if os.path.exists(cfg):
    with open(cfg) as fh:
        for line in fh:
            key, _, value = line.partition("=")
            if key.strip() == "include-system-site-packages":
                system_site = value.strip().lower() == "true"

modules = {}
try:
    top_to_dists = md.packages_distributions()
except Exception:
    top_to_dists = {}
dist_to_top = {}
for top, dists in top_to_dists.items():
    for d in dists:
        dist_to_top.setdefault(canon(d), top)
for spec in sys.argv[1:]:
    name = re.split(r"[<>=!~ ]", spec, maxsplit=1)[0].strip()
    candidates = [name, name.replace("-", "_")]
    if canon(name) in dist_to_top:
        candidates.append(dist_to_top[canon(name)])
    result = {"ok": False, "version": None, "error": ""}
    for cand in dict.fromkeys(candidates):
        try:
            mod = importlib.import_module(cand)
        except Exception as exc:
            result["error"] = "".join(traceback.format_exception_only(type(exc), exc)).strip()
            continue
        version = getattr(mod, "__version__", None)
        if not isinstance(version, str):
            version = None
            for dname in [name] + list(top_to_dists.get(cand.split(".")[0], [])):
                try:
                    version = md.version(dname)
                    break
                except Exception:
                    pass
        result = {"ok": True, "version": version, "error": "", "module": cand}
        break
    modules[spec] = result

print("@@PROBE@@" + json.dumps({
    "executable": sys.executable,
    "prefix": sys.prefix,
    "base_prefix": sys.base_prefix,
    "python_version": platform.python_version(),
    "implementation": sys.implementation.name,
    "platform": sysconfig.get_platform(),
    "soabi": sysconfig.get_config_var("SOABI") or "",
    "packages": sorted(packages),
    "editable": editable,
    "pth_outside_prefix": outside,
    "system_site_packages": system_site,
    "modules": modules,
}))
"""


def probe_environment(python: str, modules: list[str] | tuple[str, ...] = ()) -> dict[str, Any]:
    """Run the probe in ``python`` and return its report.

    :param python: Path of the environment's interpreter (``<env>/bin/python``).
    :param modules: Module specs to try importing (``"xgboost"``, ``"xgboost==3.2.0"``).
    :raises StagingError: if the interpreter is missing, not executable, or the probe fails.
    """
    if not os.path.exists(python):
        raise StagingError(
            f"The environment's interpreter {python} does not exist: check the environment path "
            "(a venv needs bin/python; a conda env needs python installed in it)"
        )
    if not os.access(python, os.X_OK):
        raise StagingError(f"The environment's interpreter {python} is not executable")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV", "CONDA_"))}
    try:
        proc = subprocess.run(
            [python, "-I", "-c", _PROBE_SCRIPT, *modules],
            capture_output=True,
            text=True,
            timeout=PROBE_TIMEOUT,
            env=env,
            cwd="/",
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise StagingError(f"Cannot run the environment's interpreter {python}: {exc}") from exc
    marker = [line for line in proc.stdout.splitlines() if line.startswith("@@PROBE@@")]
    if proc.returncode != 0 or not marker:
        tail = "\n".join((proc.stderr or proc.stdout).strip().splitlines()[-15:])
        raise StagingError(
            f"The environment's interpreter {python} failed (exit {proc.returncode}) while probing it:\n{tail}"
        )
    result: dict[str, Any] = json.loads(marker[-1][len("@@PROBE@@") :])
    return result

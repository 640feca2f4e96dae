"""Fixtures for the staging tests: tiny throwaway venvs built from the driver's base interpreter."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # the project may not be installed into the venv running pytest
    sys.path.insert(0, str(ROOT))

from tests.staging.helpers import BASE_PYTHON, TINY_PACKAGE, run  # noqa: E402


@pytest.fixture(scope="session")
def wheelhouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder with the tiny package's wheel (from the pip cache, or PyPI on a cold cache)."""
    dest = tmp_path_factory.mktemp("wheelhouse")
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "download", "--no-deps", "-q", "-d", str(dest), TINY_PACKAGE],
        capture_output=True,
        text=True,
    )
    if proc.returncode != 0:
        pytest.skip(f"cannot download {TINY_PACKAGE} (no pip cache and no PyPI?): {proc.stderr[-500:]}")
    return dest


@pytest.fixture
def make_venv(tmp_path: Path, wheelhouse: Path) -> Callable[..., Path]:
    """Factory: ``make_venv("name", packages=["pyjokes"])`` -> path of a new tiny venv (no pip)."""

    def _make(
        name: str = "env", packages: tuple[str, ...] | list[str] = (), editable: str | None = None
    ) -> Path:
        prefix = tmp_path / name
        run([BASE_PYTHON, "-m", "venv", "--without-pip", str(prefix)])
        pip = [sys.executable, "-m", "pip", "--python", str(prefix / "bin" / "python"), "install", "-q"]
        if packages:
            run([*pip, "--no-index", "--find-links", str(wheelhouse), *packages])
        if editable:
            run([*pip, "-e", editable])
        return prefix

    return _make


@pytest.fixture
def subprocess_env() -> dict[str, str]:
    """Environment for child Python processes that import the project from the source tree."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in [str(ROOT), env.get("PYTHONPATH", "")] if p)
    return env

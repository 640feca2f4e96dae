"""Constants and small helpers shared by the staging tests (imported as ``tests.staging.helpers``)."""

from __future__ import annotations

import subprocess
import sys

import pytest

#: The interpreter the driver's venv is built on; throwaway venvs use it so Python versions match.
BASE_PYTHON = getattr(sys, "_base_executable", sys.executable)
#: A tiny pure-Python package that the project's venv does not have (checked in ``wheelhouse``).
TINY_PACKAGE = "pyjokes"


def run(cmd: list[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
    """Run a command, failing the test with its output if it fails."""
    proc = subprocess.run(cmd, capture_output=True, text=True, **kwargs)  # type: ignore[call-overload]
    if proc.returncode != 0:
        pytest.fail(f"{cmd} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return proc

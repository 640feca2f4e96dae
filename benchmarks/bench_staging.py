"""Benchmark: first staging of a realistic venv (fingerprint + pack + upload) vs the second (cache hit).

Builds a throwaway venv (pandas, pyarrow, numpy, scikit-learn by default, from the pip cache) next to
the project's venv base interpreter, stages it twice into a ``file://`` store and reports seconds,
sizes and the ratio as a markdown table; writes ``benchmarks/results/staging.json``.

The project's own venv is not used: it is ~2 GB and holds an editable install of the project, which
venv-pack refuses (and which :func:`check_environment` reports).

Run: ``.venv/bin/python benchmarks/bench_staging.py [--packages pandas pyarrow ...] [--compress-level 4]``
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from airflow_provider_spark_predict.staging import check_environment, open_store, stage_environment  # noqa: E402
from airflow_provider_spark_predict.staging import environment as env_mod  # noqa: E402
from airflow_provider_spark_predict.staging import store as store_mod  # noqa: E402

DEFAULT_PACKAGES = ["pandas<3", "pyarrow", "numpy", "scikit-learn"]
REQUIRED = ["pandas", "pyarrow", "numpy", "sklearn"]


def _du(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file() and not f.is_symlink())


def build_venv(prefix: Path, packages: list[str]) -> float:
    """Create a venv with the base interpreter and install ``packages``; return seconds."""
    started = time.monotonic()
    base = getattr(sys, "_base_executable", sys.executable)
    subprocess.run([base, "-m", "venv", "--without-pip", str(prefix)], check=True)
    subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(prefix / "bin" / "python"), "install", "-q", *packages],
        check=True,
    )
    return time.monotonic() - started


class Timers:
    """Wraps packing and publishing to time them separately."""

    def __init__(self) -> None:
        self.pack_s = 0.0
        self.publish_s = 0.0
        self.pack_calls = 0
        real_pack, real_publish = env_mod.pack_environment, store_mod.Store.publish

        def timed_pack(*args, **kwargs):
            started = time.monotonic()
            try:
                return real_pack(*args, **kwargs)
            finally:
                self.pack_s += time.monotonic() - started
                self.pack_calls += 1

        def timed_publish(store, *args, **kwargs):
            started = time.monotonic()
            try:
                return real_publish(store, *args, **kwargs)
            finally:
                self.publish_s += time.monotonic() - started

        env_mod.pack_environment = timed_pack
        store_mod.Store.publish = timed_publish  # type: ignore[method-assign]

    def reset(self) -> None:
        self.pack_s = self.publish_s = 0.0
        self.pack_calls = 0


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--packages", nargs="+", default=DEFAULT_PACKAGES)
    parser.add_argument("--compress-level", type=int, default=4)
    parser.add_argument("--output", default=str(ROOT / "benchmarks" / "results" / "staging.json"))
    parser.add_argument("--keep", action="store_true", help="keep the temp venv and store")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")

    work = Path(tempfile.mkdtemp(prefix="bench-staging-"))
    try:
        prefix = work / "venv"
        build_s = build_venv(prefix, args.packages)
        env_bytes = _du(prefix)
        env = {"kind": "venv", "path": str(prefix), "compress_level": args.compress_level}
        store = open_store(f"file://{work / 'store'}")
        timers = Timers()

        first = stage_environment(env, store, required_modules=REQUIRED)
        first_pack, first_publish, first_calls = timers.pack_s, timers.publish_s, timers.pack_calls
        timers.reset()
        second = stage_environment(env, store, required_modules=REQUIRED)
        second_calls = timers.pack_calls
        timers.reset()
        started = time.monotonic()
        check_environment(str(prefix / "bin" / "python"), REQUIRED)  # what the record saves on day 2
        check_s = time.monotonic() - started
        assert first and second
        assert not first.cache_hit and second.cache_hit and second_calls == 0

        result = {
            "packages": args.packages,
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "compress_level": args.compress_level,
            "env_bytes_on_disk": env_bytes,
            "archive_bytes": first.size_bytes,
            "build_venv_seconds": round(build_s, 2),
            "first": {
                "seconds": round(first.seconds, 2),
                "pack_seconds": round(first_pack, 2),
                "upload_seconds": round(first_publish, 2),
                "check_and_fingerprint_seconds": round(first.seconds - first_pack - first_publish, 2),
                "pack_calls": first_calls,
                "cache_hit": first.cache_hit,
            },
            "second": {"seconds": round(second.seconds, 2), "pack_calls": second_calls, "cache_hit": True},
            "module_import_check_seconds": round(check_s, 2),
            "ratio_first_over_second": round(first.seconds / second.seconds, 1),
            "uri": first.uri,
        }
        out = Path(args.output)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(result, indent=2) + "\n")

        mb = 1e6
        print()
        print(
            f"venv: {', '.join(args.packages)}; {env_bytes / mb:.0f} MB on disk; archive {first.size_bytes / mb:.0f} MB"
        )
        print()
        print("| staging | seconds | packed | uploaded | cache hit |")
        print("|---|---:|---:|---:|---|")
        print(
            f"| first (check + fingerprint + pack + upload) | {first.seconds:.2f} | "
            f"{first_pack:.2f} s | {first_publish:.2f} s ({first.size_bytes / mb:.0f} MB) | no |"
        )
        print(f"| second (fingerprint + exists + check record) | {second.seconds:.2f} | - | - | yes |")
        print(f"| (module import check alone, skipped on day 2) | {check_s:.2f} | - | - | - |")
        print()
        print(f"ratio first/second: {result['ratio_first_over_second']}x; JSON: {out}")
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()

"""Child process for the concurrency tests: stage one thing, print the artifact as JSON.

Usage: ``python stage_worker.py env|file <store uri> <path> <barrier dir> <n> [slow seconds]``.
Each child writes ``<barrier>/<pid>.ready`` and waits until ``n`` children are ready, so the stagings
really overlap. ``slow seconds`` makes packing/uploading sleep first, so the winner holds the lock
while the loser arrives.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time


def main() -> None:
    what, store_uri, path, barrier, n = sys.argv[1:6]
    slow = float(sys.argv[6]) if len(sys.argv) > 6 else 0.0
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format=f"[{os.getpid()}] %(message)s")

    from airflow_provider_spark_predict.staging import environment as env_mod
    from airflow_provider_spark_predict.staging import open_store, stage_environment, stage_file
    from airflow_provider_spark_predict.staging import store as store_mod

    if slow:
        real_pack, real_publish = env_mod.pack_environment, store_mod.Store.publish

        def slow_pack(*args, **kwargs):
            time.sleep(slow)
            return real_pack(*args, **kwargs)

        def slow_publish(self, *args, **kwargs):
            time.sleep(slow)
            return real_publish(self, *args, **kwargs)

        env_mod.pack_environment = slow_pack
        store_mod.Store.publish = slow_publish

    store = open_store(store_uri)
    open(os.path.join(barrier, f"{os.getpid()}.ready"), "w").close()
    deadline = time.monotonic() + 60
    while len([f for f in os.listdir(barrier) if f.endswith(".ready")]) < int(n):
        if time.monotonic() > deadline:
            raise SystemExit("barrier timeout")
        time.sleep(0.01)
    if what == "env":
        artifact = stage_environment({"kind": "venv", "path": path}, store)
    else:
        artifact = stage_file(path, store)
    assert artifact is not None
    print(json.dumps(artifact.to_dict()))


if __name__ == "__main__":
    main()

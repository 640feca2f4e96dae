"""Run SQL queries (JSON dict name -> sql in argv[1]) on the embedded metastore service; print RESULT <json>.

Connects through ``embedded.hive_conf()`` (the thrift service of ``$SPARK_PREDICT_HOME``), so it may run
while jobs on the same tables are running.
"""

from __future__ import annotations

import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "dags_examples"))

from generate_demo_data import local_spark  # noqa: E402


def main() -> None:
    queries = json.loads(sys.argv[1])
    spark = local_spark("spark-predict-test-query")
    spark.sparkContext.setLogLevel("ERROR")
    out = {}
    try:
        for name, sql in queries.items():
            out[name] = [list(r) for r in spark.sql(sql).collect()]
    finally:
        spark.stop()
    print("RESULT " + json.dumps(out, default=str))


if __name__ == "__main__":
    main()

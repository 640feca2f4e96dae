"""Print the checked report of the demo run and verify the output partition against the input.

Reads the report the job published (``_CHECKED.json``) and re-counts, with Spark on the embedded
metastore, the rows and distinct pins of ``demo.user_scores`` and ``demo.user_features`` for the date.
Exits non-zero when they do not match.
"""

from __future__ import annotations

import argparse
import os
import sys

from airflow_provider_spark_predict.embedded import data_home
from airflow_provider_spark_predict.report import RunReport, format_report


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--date", required=True)
    args = parser.parse_args()
    path = os.path.join(data_home(), "store", "reports", "demo.user_scores", f"dt={args.date}", "_CHECKED.json")
    if not os.path.exists(path):
        print(f"no checked report at {path}: the run did not publish the partition", file=sys.stderr)
        return 1
    with open(path) as fh:
        report = RunReport.from_json(fh.read())
    print(format_report(report))
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from generate_demo_data import local_spark

    spark = local_spark("spark-predict-demo-verify")
    spark.sparkContext.setLogLevel("ERROR")
    try:
        out = spark.sql(
            f"SELECT count(*) AS n, count(DISTINCT pin) AS pins FROM demo.user_scores WHERE dt = '{args.date}'"
        ).first()
        inp = spark.sql(f"SELECT count(*) AS n FROM demo.user_features WHERE dt = '{args.date}'").first()
    finally:
        spark.stop()
    print("=" * 60)
    print(f"verified: demo.user_scores dt={args.date}: {out.n:,} rows, {out.pins:,} distinct pins; "
          f"input demo.user_features dt={args.date}: {inp.n:,} rows")
    ok = out.n == inp.n == out.pins
    print("OK: every input row scored once" if ok else "MISMATCH between input and output")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

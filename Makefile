# Two commands on a fresh machine: `make demo` and `make test`. Both create .venv when needed.
SHELL := /bin/bash
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
EXTRAS := sklearn,xgboost-cpu,lightgbm,conda,dev
DEMO_DATE ?= 2026-01-02
VAR := $(CURDIR)/var

# The embedded default: everything under ./var, Spark local[2], Airflow on SQLite.
DEMO_ENV := export AIRFLOW_HOME=$(VAR)/airflow SPARK_PREDICT_HOME=$(VAR)/spark_predict \
	AIRFLOW__CORE__DAGS_FOLDER=$(CURDIR)/dags_examples AIRFLOW__CORE__LOAD_EXAMPLES=False \
	SPARK_LOCAL_IP=127.0.0.1 AIRFLOW_CONN_SPARK_DEFAULT='{"conn_type": "spark", "host": "local[2]"}' \
	PATH=$(CURDIR)/$(BIN):$$PATH

.PHONY: help venv check-java check-python demo backfill-demo metastore-stop test lint bench clean

help:
	@echo "make demo   - create .venv, install, generate data, run the example DAG, print the checked report"
	@echo "make backfill-demo - after make demo: backfill 3 more dates at once through a real Airflow scheduler"
	@echo "make test   - create .venv if needed, run ruff, mypy and the whole test suite"
	@echo "make bench  - run the benchmarks in benchmarks/"

check-java:
	@command -v java >/dev/null 2>&1 || { echo "ERROR: Java 17+ is needed by Spark and 'java' is not on PATH. Install OpenJDK 17 (e.g. apt-get install openjdk-17-jre-headless) and retry." >&2; exit 1; }
	@v=$$(java -version 2>&1 | sed -n 's/.*version "\([0-9]*\).*/\1/p' | head -1); \
	  if [ -z "$$v" ] || [ "$$v" -lt 17 ]; then echo "ERROR: Spark needs Java 17+, found: $$(java -version 2>&1 | head -1)" >&2; exit 1; fi

check-python:
	@$(PY) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' || { echo "ERROR: Python 3.11+ is needed (set PY=python3.11)" >&2; exit 1; }

$(STAMP): pyproject.toml | check-python check-java
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e ".[$(EXTRAS)]"
	@# TRAP (see README): the Spark provider pulls pyspark-client, which overwrites pyspark's Python files
	@# in site-packages. Reinstall pyspark last, at the version pip resolved.
	$(BIN)/pip install -q --force-reinstall --no-deps "pyspark==$$($(BIN)/python -c 'import importlib.metadata as m; print(m.version("pyspark"))')"
	touch $(STAMP)

venv: $(STAMP)

demo: $(STAMP)
	@$(DEMO_ENV); set -e; \
	  if [ -d $(VAR)/spark_predict ]; then $(BIN)/python -m airflow_provider_spark_predict.metastore stop >/dev/null || true; fi; \
	  rm -rf $(VAR)/airflow $(VAR)/spark_predict; \
	  echo "== generating the synthetic users table and the 17-class XGBoost model"; \
	  $(BIN)/python dags_examples/generate_demo_data.py --dates 2026-01-01 $(DEMO_DATE) --rows 20000; \
	  echo "== airflow db migrate (SQLite)"; $(BIN)/airflow db migrate >/dev/null; \
	  echo "== airflow dags test daily_user_scoring 2026-01-01 (the previous day, for the drift check)"; \
	  $(BIN)/airflow dags test daily_user_scoring 2026-01-01 > $(VAR)/demo-dags-test-prev.log 2>&1 \
	    || { tail -60 $(VAR)/demo-dags-test-prev.log; exit 1; }; \
	  echo "== airflow dags test daily_user_scoring $(DEMO_DATE)"; \
	  $(BIN)/airflow dags test daily_user_scoring $(DEMO_DATE) > $(VAR)/demo-dags-test.log 2>&1 \
	    || { tail -60 $(VAR)/demo-dags-test.log; exit 1; }; \
	  grep -E "\[spark-predict\]|state=|Marking run" $(VAR)/demo-dags-test.log | sed 's/ \[airflow.*//' | tail -25; \
	  echo "== checking the written partition against the input"; \
	  $(BIN)/python dags_examples/show_report.py --date $(DEMO_DATE)

BACKFILL_FROM ?= 2026-01-03
BACKFILL_TO ?= 2026-01-05

backfill-demo: $(STAMP)
	@$(DEMO_ENV); set -e; test -f $(VAR)/airflow/airflow.db || { echo "run 'make demo' first" >&2; exit 1; }; \
	  echo "== input partitions $(BACKFILL_FROM)..$(BACKFILL_TO) of demo.user_features"; \
	  $(BIN)/python dags_examples/generate_demo_data.py --rows 20000 --dates \
	    $$($(BIN)/python -c 'import datetime as d,sys; a,b=(d.date.fromisoformat(x) for x in sys.argv[1:]); print(*[a+d.timedelta(i) for i in range((b-a).days+1)])' $(BACKFILL_FROM) $(BACKFILL_TO)); \
	  $(BIN)/python dags_examples/backfill_demo.py --from-date $(BACKFILL_FROM) --to-date $(BACKFILL_TO) --max-active-runs 3; \
	  $(BIN)/python -m airflow_provider_spark_predict.metastore status; \
	  echo "(the embedded metastore keeps running for the next jobs; stop it with: make metastore-stop)"

metastore-stop:
	@$(DEMO_ENV); $(BIN)/python -m airflow_provider_spark_predict.metastore stop

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy airflow_provider_spark_predict

test: lint
	$(BIN)/python -m pytest -q -p no:cacheprovider --durations=15 tests

bench: $(STAMP)
	$(BIN)/python benchmarks/bench_throughput.py
	$(BIN)/python benchmarks/bench_staging.py
	$(BIN)/python benchmarks/bench_sparkml.py

clean:
	-@$(DEMO_ENV); test -d $(VAR)/spark_predict && $(BIN)/python -m airflow_provider_spark_predict.metastore stop
	rm -rf $(VAR) build *.egg-info

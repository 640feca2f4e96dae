"""The scoring run, engine-neutral: the step sequence (:mod:`.sequence`), the engine interface
(:mod:`.engine`), the output folder layout (:mod:`.layout`), publishing (:mod:`.publish`) and the facts
the checks read (:mod:`.facts`). The Spark engine lives in :mod:`airflow_provider_spark_predict.job`, the
in-process engine in :mod:`airflow_provider_spark_predict.in_process`.
"""

"""The PySpark application that spark-submit runs (``main.py``) and its parts. Imported on the cluster."""

"""Local re-implementations of Spark ML stages, and the allowlist mapping Spark classes to them."""

from __future__ import annotations

from airflow_provider_spark_predict.sparkml.stages.base import LocalStage
from airflow_provider_spark_predict.sparkml.stages.feature import (
    Bucketizer,
    ImputerModel,
    IndexToString,
    OneHotEncoderModel,
    StringIndexerModel,
    VectorAssembler,
)
from airflow_provider_spark_predict.sparkml.stages.linear import (
    LinearRegressionModel,
    LogisticRegressionModel,
)
from airflow_provider_spark_predict.sparkml.stages.scalers import MinMaxScalerModel, StandardScalerModel
from airflow_provider_spark_predict.sparkml.stages.trees import (
    DecisionTreeClassificationModel,
    DecisionTreeRegressionModel,
    GBTClassificationModel,
    GBTRegressionModel,
    RandomForestClassificationModel,
    RandomForestRegressionModel,
)

_ALL: tuple[type[LocalStage], ...] = (
    StringIndexerModel,
    OneHotEncoderModel,
    ImputerModel,
    Bucketizer,
    VectorAssembler,
    IndexToString,
    StandardScalerModel,
    MinMaxScalerModel,
    LogisticRegressionModel,
    LinearRegressionModel,
    DecisionTreeClassificationModel,
    RandomForestClassificationModel,
    GBTClassificationModel,
    DecisionTreeRegressionModel,
    RandomForestRegressionModel,
    GBTRegressionModel,
)

#: Spark class name -> local implementation. Any other class is refused at load time.
STAGE_REGISTRY: dict[str, type[LocalStage]] = {name: cls for cls in _ALL for name in cls.SPARK_CLASSES}

__all__ = ["STAGE_REGISTRY", "LocalStage"]

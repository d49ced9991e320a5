"""The evaluation harness (``frs eval``): predictors, scoring, efficiency tables."""

from frs_ros.evaluation.harness import EvalReport, efficiency_markdown, evaluate, perceive
from frs_ros.evaluation.predictors import (
    LargestPredictor,
    OraclePredictor,
    Prediction,
    Predictor,
    RandomPredictor,
    ReasonerPredictor,
)

__all__ = [
    "EvalReport",
    "LargestPredictor",
    "OraclePredictor",
    "Prediction",
    "Predictor",
    "RandomPredictor",
    "ReasonerPredictor",
    "efficiency_markdown",
    "evaluate",
    "perceive",
]

"""Error metrics of a model on labelled data, and plots of them."""

from .metrics import COLUMNS, error_metrics, evaluate_files, format_table, grouped_metrics, predict_configurations

__all__ = ["COLUMNS", "error_metrics", "evaluate_files", "format_table", "grouped_metrics", "predict_configurations"]

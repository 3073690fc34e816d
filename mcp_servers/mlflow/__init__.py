"""mlflow: the read-only runs-and-metrics skill over `MlflowClient`."""

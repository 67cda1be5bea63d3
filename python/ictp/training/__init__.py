"""Training ICTP models (in progress: configuration)."""

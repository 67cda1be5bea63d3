"""Training ICTP models: configuration schema and loss (the training loop is in progress)."""

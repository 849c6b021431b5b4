"""Operations: settings, logging, metrics, the Temporal connection and `make run`."""

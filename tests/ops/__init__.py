"""Tests of running the engine: processes, metrics, deployment."""

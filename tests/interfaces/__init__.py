"""Tests of the CLI and the HTTP API."""

"""Tests of the case machine, its models and procedure files."""

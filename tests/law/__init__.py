"""Tests of the time-limit core."""

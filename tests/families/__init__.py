"""Tests of the procedure families."""

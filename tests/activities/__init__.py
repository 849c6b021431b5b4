"""Tests of the register, mail and webhook activities."""

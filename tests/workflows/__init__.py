"""Tests of the workflows and their recorded histories."""

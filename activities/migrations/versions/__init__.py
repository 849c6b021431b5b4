"""Revisions of the outcome register schema, oldest first (written by hand)."""

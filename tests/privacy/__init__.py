"""Tests of the codec, single sign-on, erasure and redaction."""

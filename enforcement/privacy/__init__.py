"""Privacy: the payload codec and its server, single sign-on, redaction of logs."""

"""What people use: the `enforce` CLI and the HTTP API."""

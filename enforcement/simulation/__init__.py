"""Simulation: scenario files, the engine that runs them through the real workflows,
and the reports (JSON, CSV, ICS, charts, HTML)."""

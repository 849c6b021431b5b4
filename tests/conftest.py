from enforcement.case.machine import Machine

pytest_plugins = ["tests.fixtures_db", "tests.fixtures_temporal", "tests.fixtures_sinks"]

# Every rollback of a refused event in the suite is checked against a deep copy of the
# state: the snapshot that makes refusals cheap must miss nothing changed in place.
Machine.verify_rollback = True

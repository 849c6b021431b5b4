pytest_plugins = ["tests.fixtures_db", "tests.fixtures_temporal", "tests.fixtures_sinks"]

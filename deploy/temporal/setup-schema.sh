#!/bin/sh
# Creates Temporal's two PostgreSQL databases and brings their schemas to the versions this
# admin-tools image ships (idempotent: run it again after upgrading TEMPORAL_VERSION).
# Runs in temporalio/admin-tools; needs POSTGRES_SEEDS, DB_PORT, POSTGRES_USER, POSTGRES_PWD.
set -eu

SCHEMA_DIR=/etc/temporal/schema/postgresql/v12
sql() {
  temporal-sql-tool --plugin postgres12 --ep "$POSTGRES_SEEDS" -p "${DB_PORT:-5432}" \
    -u "$POSTGRES_USER" --pw "$POSTGRES_PWD" "$@"
}

for db in temporal temporal_visibility; do
  sql --db "$db" create-database || true   # already there on a second run
done

sql --db temporal setup-schema -v 0.0 || true   # no-op once versioned
sql --db temporal update-schema -d "$SCHEMA_DIR/temporal/versioned"
sql --db temporal_visibility setup-schema -v 0.0 || true
sql --db temporal_visibility update-schema -d "$SCHEMA_DIR/visibility/versioned"
echo "temporal schemas up to date"

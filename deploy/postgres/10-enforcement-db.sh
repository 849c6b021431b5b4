#!/bin/sh
# The outcome register's own role and database, beside Temporal's (first start only: the
# postgres image runs /docker-entrypoint-initdb.d on an empty data directory).
set -eu
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres \
  -v pw="$ENFORCE_DB_PASSWORD" <<'SQL'
CREATE ROLE enforcement LOGIN PASSWORD :'pw';
CREATE DATABASE enforcement OWNER enforcement;
SQL

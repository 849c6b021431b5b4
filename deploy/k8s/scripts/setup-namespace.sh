#!/bin/sh
# Waits for the cluster, then creates the namespace and the engine's search attributes
# (the names and types workflows/case.py upserts; enforcement/temporal.py SEARCH_KEYS).
# Idempotent: what exists already is left as it is. Runs in temporalio/admin-tools (the
# `temporal` CLI) from docker-compose.yml (temporal-setup) and k8s/temporal-setup-job.yaml.
set -eu

: "${TEMPORAL_ADDRESS:?set TEMPORAL_ADDRESS}"
NS="${TEMPORAL_NAMESPACE:-default}"
RETENTION="${TEMPORAL_NAMESPACE_RETENTION:-30d}"

tries=0
until temporal operator cluster health --address "$TEMPORAL_ADDRESS" >/dev/null 2>&1; do
  tries=$((tries + 1))
  if [ "$tries" -gt 90 ]; then
    echo "Temporal at $TEMPORAL_ADDRESS did not become healthy" >&2
    exit 1
  fi
  sleep 2
done

# Runs a create command; an "already exists" answer counts as success.
ensure() {
  if out=$("$@" 2>&1); then
    return 0
  fi
  case "$out" in
    *[Aa]lready*) return 0 ;;
  esac
  echo "$out" >&2
  return 1
}

ensure temporal operator namespace create --address "$TEMPORAL_ADDRESS" -n "$NS" \
  --retention "$RETENTION"

# The namespace can take a moment to be usable after its creation.
tries=0
until temporal operator namespace describe --address "$TEMPORAL_ADDRESS" -n "$NS" >/dev/null 2>&1; do
  tries=$((tries + 1))
  [ "$tries" -gt 30 ] && { echo "namespace $NS not available" >&2; exit 1; }
  sleep 2
done

add() {  # name type
  ensure temporal operator search-attribute create --address "$TEMPORAL_ADDRESS" -n "$NS" \
    --name "$1" --type "$2"
}
add EnforcementStage Keyword
add EnforcementProcedure Keyword
add NextDeadline Datetime
add ControllerCountry Keyword
add ControllerKey Keyword
echo "namespace $NS ready with the engine's search attributes"

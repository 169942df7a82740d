#!/usr/bin/env bash
# Proves every migration is reversible: up, down to zero, up again, then a smoke test.
# Needs psql and either the `migrate` CLI or Docker. DATABASE_URL must point at a disposable database.
set -euo pipefail
: "${DATABASE_URL:?set DATABASE_URL, e.g. postgres://postgres:postgres@localhost:5432/db?sslmode=disable}"
root="$(cd "$(dirname "$0")/.." && pwd)"

run_migrate() {
  if command -v migrate >/dev/null 2>&1; then
    migrate -path "$root/migrations" -database "$DATABASE_URL" "$@"
  else
    docker run --rm --network host -v "$root/migrations:/migrations:ro" \
      migrate/migrate:v4.18.3 -path /migrations -database "$DATABASE_URL" "$@"
  fi
}

echo "==> up";        run_migrate up
echo "==> down all";  run_migrate down -all
echo "==> up again";  run_migrate up
echo "==> smoke test"
psql "$DATABASE_URL" -v ON_ERROR_STOP=1 -q -f "$root/scripts/smoke_test.sql"
echo "all migrations are reversible and the smoke test passed"

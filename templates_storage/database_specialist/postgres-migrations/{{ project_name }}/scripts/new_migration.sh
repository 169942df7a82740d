#!/usr/bin/env bash
# Create the next pair of up/down migration files: scripts/new_migration.sh add_invoices
set -euo pipefail
name="${1:?usage: $0 <snake_case_name>}"
if [[ ! "$name" =~ ^[a-z][a-z0-9_]*$ ]]; then
  echo "migration name must be snake_case" >&2
  exit 1
fi
dir="$(cd "$(dirname "$0")/.." && pwd)/migrations"
last=$(find "$dir" -name '*.up.sql' -printf '%f\n' | sort | tail -n 1 | cut -d_ -f1)
next=$(printf '%06d' $((10#${last:-0} + 1)))
up="$dir/${next}_${name}.up.sql"
down="$dir/${next}_${name}.down.sql"
printf -- '-- %s: describe the change and why it is safe to run online.\nBEGIN;\n\nCOMMIT;\n' "$name" > "$up"
printf -- '-- Revert %s.\nBEGIN;\n\nCOMMIT;\n' "$name" > "$down"
echo "created $up"
echo "created $down"

#!/usr/bin/env bash
# Manage ADRs in docs/adr.
#   scripts/adr.sh new "Use gRPC for internal service calls"
#   scripts/adr.sh supersede 0002 "Move orders to a partitioned PostgreSQL cluster"
#   scripts/adr.sh list
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
dir="$root/docs/adr"
today="$(date +%Y-%m-%d)"

slugify() { echo "$1" | tr '[:upper:]' '[:lower:]' | sed -E 's/[^a-z0-9]+/-/g; s/^-+|-+$//g'; }

next_number() {
  local last
  last=$(find "$dir" -maxdepth 1 -name '[0-9][0-9][0-9][0-9]-*.md' -printf '%f\n' | sort | tail -n 1 | cut -c1-4)
  printf '%04d' $((10#${last:-0} + 1))
}

create() {
  local title="$1" number file
  number="$(next_number)"
  file="$dir/$number-$(slugify "$title").md"
  sed -e "s/^date: YYYY-MM-DD/date: $today/" -e "s/^# TITLE$/# $title/" "$dir/template.md" > "$file"
  rebuild_index
  echo "$file"
}

rebuild_index() {
  # Regenerates the table in README.md from the front matter of every ADR.
  local tmp
  tmp="$(mktemp)"
  awk '/^\| ADR \| Title/ {exit} {print}' "$dir/README.md" > "$tmp"
  {
    echo "| ADR | Title | Status | Date |"
    echo "|---|---|---|---|"
    for f in $(find "$dir" -maxdepth 1 -name '[0-9][0-9][0-9][0-9]-*.md' | sort); do
      local n status date title
      n="$(basename "$f" | cut -c1-4)"
      status="$(sed -n 's/^status: //p' "$f" | head -n 1)"
      date="$(sed -n 's/^date: //p' "$f" | head -n 1)"
      title="$(sed -n 's/^# //p' "$f" | head -n 1)"
      echo "| [$n]($(basename "$f")) | $title | ${status^} | $date |"
    done
    echo
  } >> "$tmp"
  awk 'f {print} /^\| \[[0-9]{4}\]/ {seen=1} seen && /^$/ {f=1}' "$dir/README.md" >> "$tmp"
  mv "$tmp" "$dir/README.md"
}

case "${1:-}" in
  new)
    [[ $# -eq 2 ]] || { echo "usage: $0 new \"Title\"" >&2; exit 2; }
    create "$2"
    ;;
  supersede)
    [[ $# -eq 3 ]] || { echo "usage: $0 supersede NNNN \"New title\"" >&2; exit 2; }
    old="$(find "$dir" -maxdepth 1 -name "$2-*.md" | head -n 1)"
    [[ -n "$old" ]] || { echo "ADR $2 not found" >&2; exit 1; }
    new="$(create "$3")"
    sed -i "s/^status: .*/status: superseded by $(basename "$new" | cut -c1-4)/" "$old"
    sed -i "s/^## More information$/## More information\n\nSupersedes ADR $2./" "$new"
    rebuild_index
    echo "$new (supersedes $(basename "$old"))"
    ;;
  list)
    grep -H '^status:' "$dir"/[0-9][0-9][0-9][0-9]-*.md | sed 's#.*/##'
    ;;
  *)
    sed -n '2,6p' "$0"
    exit 2
    ;;
esac

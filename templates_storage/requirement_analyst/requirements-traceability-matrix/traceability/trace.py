#!/usr/bin/env python3
"""Requirements traceability check for {{ project_name }}.

Reads requirements.csv, scans the test files for requirement IDs (in test names, docstrings,
comments, pytest markers or Gherkin tags such as @{{ requirement_prefix }}-3), and writes:

  matrix.md     human-readable matrix: requirement -> stories -> tests
  matrix.json   the same data for dashboards

Exits with status 1 when a requirement whose priority is enforced has no test, or when a test
references an unknown requirement ID. Standard library only; runs on Python 3.9+.

    python traceability/trace.py --root . [--enforce Must --enforce Should]
"""

from __future__ import annotations

import argparse
import csv
import json
import re
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
DEFAULT_GLOBS = [{% for g in test_globs %}"{{ g }}"{% if not loop.last %}, {% endif %}{% endfor %}]
DEFAULT_ENFORCE = [{% for p in enforce_priorities %}"{{ p }}"{% if not loop.last %}, {% endif %}{% endfor %}]
ID_PATTERN = re.compile(r"\b(?:{{ requirement_prefix }}|NFR)-\d+\b")


def load_requirements(path: Path) -> dict[str, dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    requirements = {}
    for row in rows:
        rid = row["id"].strip()
        if rid in requirements:
            raise SystemExit(f"duplicate requirement id {rid} in {path}")
        requirements[rid] = row
    return requirements


def scan_tests(root: Path, globs: list[str]) -> dict[str, set[str]]:
    """Maps requirement ID -> set of 'file:line' locations that mention it."""
    found: dict[str, set[str]] = {}
    for pattern in globs:
        for path in sorted(root.glob(pattern)):
            if not path.is_file():
                continue
            for lineno, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), 1):
                for rid in ID_PATTERN.findall(line):
                    found.setdefault(rid, set()).add(f"{path.relative_to(root).as_posix()}:{lineno}")
    return found


def build_matrix(requirements: dict[str, dict[str, str]], coverage: dict[str, set[str]]) -> list[dict]:
    matrix = []
    for rid, row in requirements.items():
        tests = sorted(coverage.get(rid, set()))
        matrix.append(
            {
                "id": rid,
                "title": row["title"],
                "priority": row["priority"],
                "status": row["status"],
                "stories": [s.strip() for s in row.get("stories", "").split(";") if s.strip()],
                "tests": tests,
                "covered": bool(tests),
            }
        )
    return matrix


def write_reports(matrix: list[dict], unknown: dict[str, set[str]], out_dir: Path) -> None:
    covered = sum(1 for m in matrix if m["covered"])
    lines = [
        "# Requirements traceability matrix: {{ project_name }}",
        "",
        f"Coverage: **{covered}/{len(matrix)}** requirements have at least one test.",
        "",
        "| Requirement | Title | Priority | Status | Stories | Tests |",
        "|---|---|---|---|---|---|",
    ]
    for m in matrix:
        tests = "<br>".join(f"`{t}`" for t in m["tests"]) or "**none**"
        lines.append(
            f"| {m['id']} | {m['title']} | {m['priority']} | {m['status']} | {', '.join(m['stories'])} | {tests} |"
        )
    if unknown:
        lines += ["", "## Tests referencing unknown requirements", ""]
        lines += [f"- {rid}: {', '.join(sorted(locs))}" for rid, locs in sorted(unknown.items())]
    (out_dir / "matrix.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (out_dir / "matrix.json").write_text(json.dumps({"requirements": matrix}, indent=2) + "\n", encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", default=".", help="repository root the globs are relative to")
    parser.add_argument("--requirements", default=str(HERE / "requirements.csv"))
    parser.add_argument("--glob", action="append", dest="globs", help="test file glob (repeatable)")
    parser.add_argument("--enforce", action="append", help="priority that must be covered (repeatable)")
    parser.add_argument("--out", default=str(HERE))
    args = parser.parse_args(argv)

    root = Path(args.root).resolve()
    requirements = load_requirements(Path(args.requirements))
    coverage = scan_tests(root, args.globs or DEFAULT_GLOBS)
    matrix = build_matrix(requirements, coverage)
    unknown = {rid: locs for rid, locs in coverage.items() if rid not in requirements}
    write_reports(matrix, unknown, Path(args.out))

    enforce = set(args.enforce or DEFAULT_ENFORCE)
    missing = [m for m in matrix if m["priority"] in enforce and m["status"] != "Rejected" and not m["covered"]]
    for m in missing:
        print(f"UNCOVERED {m['id']} ({m['priority']}): {m['title']}", file=sys.stderr)
    for rid, locs in sorted(unknown.items()):
        print(f"UNKNOWN   {rid} referenced at {', '.join(sorted(locs))}", file=sys.stderr)
    covered = sum(1 for m in matrix if m["covered"])
    print(f"traceability: {covered}/{len(matrix)} requirements covered; "
          f"{len(missing)} enforced requirement(s) uncovered; {len(unknown)} unknown reference(s)")
    return 1 if missing or unknown else 0


if __name__ == "__main__":
    sys.exit(main())

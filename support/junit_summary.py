#!/usr/bin/env python3
"""Print one closing line for the Python test run from Pants' JUnit reports (dist/test/reports).

Why: Pants shows one line per test target, not pytest's own totals; CI and people want the totals.
"""

from __future__ import annotations

import sys
import xml.etree.ElementTree as ET  # nosec B405 - parsing our own test reports
from pathlib import Path


def main(report_dir: str = "dist/test/reports") -> int:
    totals = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    files = sorted(Path(report_dir).glob("**/*.xml"))
    for path in files:
        root = ET.parse(path).getroot()  # noqa: S314  # nosec B314 - trusted local file
        suites = [root] if root.tag == "testsuite" else list(root.iter("testsuite"))
        for suite in suites:
            for key in totals:
                totals[key] += int(suite.get(key, "0"))
    failed = totals["failures"] + totals["errors"]
    passed = totals["tests"] - failed - totals["skipped"]
    print(
        f"python: {passed} passed, {failed} failed, {totals['skipped']} skipped ({len(files)} files)"
    )
    return 1 if failed or not files else 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))

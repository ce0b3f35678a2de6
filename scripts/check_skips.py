#!/usr/bin/env python3
"""Fails when ctest did not run every registered test.

Usage: check_skips.py JUNIT_XML [--expect N]
  JUNIT_XML  what `ctest --output-junit` wrote
  --expect   the number of registered tests (`ctest -N`'s "Total Tests"); the report must hold
             exactly that many

scripts/test runs it after ctest. A skipped test (GTEST_SKIP, a CLI script's or an MPI
program's exit 77) means a precondition that scripts/setup should have provided is missing, and
ctest counts a skip as success, so without this check a machine lacking, say, the dataset would
pass CI having checked nothing. Disabled and otherwise not-run tests fail it too. Tests for
hardware a machine may lack are not registered there at all (tests/CMakeLists.txt), so they never
show up here.

A report that cannot be read, holds no test, or disagrees with --expect or with its own totals is
an error as well: this check must never pass because it saw nothing.
Exit status: 0 all ran, 1 some did not, 2 the report is unusable.
"""
import argparse
import re
import sys
import xml.etree.ElementTree as ET

# ctest's testcase status attribute: run (passed), fail, notrun (skipped, or held back by a
# missing REQUIRED_FILES or a failed fixture), disabled (the DISABLED property).
KNOWN_STATUSES = {"run", "fail", "notrun", "disabled"}


def unusable(path, why):
    print(f"check_skips: {path}: {why}; cannot tell whether every test ran", file=sys.stderr)
    sys.exit(2)


def read_testcases(path):
    """(suite attributes, [(name, status, reason, output lines)]) from a ctest JUnit report."""
    try:
        root = ET.parse(path).getroot()
    except (OSError, ET.ParseError) as e:
        unusable(path, f"not a readable JUnit report ({e})")
    suite = root if root.tag == "testsuite" else root.find("testsuite")
    if suite is None:
        unusable(path, f"no <testsuite> element (root is <{root.tag}>)")
    cases = []
    for tc in suite.iter("testcase"):
        status = tc.get("status")
        if status not in KNOWN_STATUSES:
            unusable(path, f"testcase {tc.get('name')!r} has status {status!r}, expected one of "
                     f"{sorted(KNOWN_STATUSES)}")
        skipped = tc.find("skipped")
        reason = skipped.get("message", "") if skipped is not None else "the DISABLED property" \
            if status == "disabled" else ""
        cases.append((tc.get("name"), status, reason, why_not_run(tc.findtext("system-out", ""))))
    return suite.attrib, cases


def why_not_run(output):
    """The first lines of a test's output that say why it skipped (ctest shows no output of a
    skipped test): those mentioning a skip, each with the next line if it ends in "Skipped"
    (GoogleTest puts the GTEST_SKIP message there); else the last line."""
    # ctest escapes the terminal colour codes GoogleTest may print under mpiexec; drop them.
    output = re.sub(r"\[NON-XML-CHAR-0x1B\]\[[0-9;]*m", "", output)
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    said = []
    for i, line in enumerate(lines):
        if "skip" in line.lower():
            said += lines[i:i + 2] if line.endswith("Skipped") else [line]
    return (said or lines[-1:])[:3]


def check_totals(path, attrib, cases, expect):
    """Every count the report states agrees with what was parsed from it."""
    if not cases:
        unusable(path, "no <testcase> in the report")
    stated = {"tests": len(cases),
              "skipped": sum(1 for c in cases if c[1] == "notrun"),
              "disabled": sum(1 for c in cases if c[1] == "disabled")}
    for key, counted in stated.items():
        value = attrib.get(key)
        if value is None or not value.isdigit() or int(value) != counted:
            unusable(path, f"<testsuite {key}={value!r}> but {counted} such testcases parsed")
    if expect is not None and len(cases) != expect:
        unusable(path, f"{len(cases)} tests reported, but {expect} are registered")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("junit")
    parser.add_argument("--expect", type=int)
    args = parser.parse_args()
    attrib, cases = read_testcases(args.junit)
    check_totals(args.junit, attrib, cases, args.expect)
    not_run = [c for c in cases if c[1] in ("notrun", "disabled")]
    if not_run:
        print(f"check_skips: FAIL: {len(not_run)} of {len(cases)} tests did not run (a skip means a "
              "precondition that scripts/setup provides is missing):", file=sys.stderr)
        for name, status, reason, said in not_run:
            print(f"  {name}: {'skipped' if status == 'notrun' else status} ({reason})", file=sys.stderr)
            for line in said:
                print(f"      {line}", file=sys.stderr)
        sys.exit(1)
    print(f"check_skips: all {len(cases)} tests ran (0 skipped, 0 disabled)")


if __name__ == "__main__":
    main()

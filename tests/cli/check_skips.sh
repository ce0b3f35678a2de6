#!/usr/bin/env bash
# scripts/check_skips.py, the CI gate behind scripts/test, on reports from a real ctest: a tiny
# project whose tests pass, skip by exit code 77, skip by GoogleTest's "[  SKIPPED ]" line, are
# disabled or fail. It passes only a report in which every test ran (a failure is ctest's own
# exit status to report), exits 1 naming each test that did not run and its reason, and exits 2
# on a report it cannot trust: missing, not XML, no testcase, fewer tests than registered.
#   bash check_skips.sh BATCHLAB_BIN SOURCE_DIR SCRATCH_DIR
set -u
src=$2 scratch=$3
check=$src/scripts/check_skips.py
fail() { echo "check_skips: FAIL: $*"; exit 1; }
rm -rf "$scratch" && mkdir -p "$scratch/project"

cat >"$scratch/project/CMakeLists.txt" <<'EOF'
cmake_minimum_required(VERSION 3.25)
project(check_skips_fixture NONE)
enable_testing()
add_test(NAME passes COMMAND sh -c "exit 0")
add_test(NAME fails COMMAND sh -c "exit 1")
add_test(NAME skips_by_code COMMAND sh -c "echo 'skips_by_code: SKIP: no dataset here'; exit 77")
set_tests_properties(skips_by_code PROPERTIES SKIP_RETURN_CODE 77)
add_test(NAME skips_in_gtest COMMAND sh -c "printf 'x.cpp:3: Skipped\\nno GPU\\n[  SKIPPED ] A.B (0 ms)\\n'")
set_tests_properties(skips_in_gtest PROPERTIES SKIP_REGULAR_EXPRESSION "\\[  SKIPPED \\]")
add_test(NAME disabled COMMAND sh -c "exit 0")
set_tests_properties(disabled PROPERTIES DISABLED TRUE)
EOF
cmake -S "$scratch/project" -B "$scratch/build" >/dev/null || fail "configuring the fixture project"

# report NAME REGEX: runs the fixture tests matching REGEX into $scratch/NAME.xml.
report() { (cd "$scratch/build" && ctest -R "$2" --output-junit "$scratch/$1.xml" >/dev/null 2>&1); }
# expect STATUS NAME ARGS...: check_skips.py ARGS exits STATUS; its stderr is in $scratch/NAME.err.
expect() {
  local want=$1 name=$2; shift 2
  python3 "$check" "$@" >"$scratch/$name.out" 2>"$scratch/$name.err"
  local rc=$?
  ((rc == want)) || fail "$name: exit $rc, want $want ($(cat "$scratch/$name.err"))"
}

report ran '^(passes|fails)$'
expect 0 ran "$scratch/ran.xml" --expect 2
grep -q '^check_skips: all 2 tests ran' "$scratch/ran.out" || fail "ran: $(cat "$scratch/ran.out")"

report all .
expect 1 all "$scratch/all.xml" --expect 5
grep -q '3 of 5 tests did not run' "$scratch/all.err" || fail "all: no count in $(cat "$scratch/all.err")"
for line in 'skips_by_code: skipped (SKIP_RETURN_CODE=77)' 'skips_by_code: SKIP: no dataset here' \
            'skips_in_gtest: skipped (SKIP_REGULAR_EXPRESSION_MATCHED)' 'no GPU' 'disabled: disabled'; do
  grep -qF -- "$line" "$scratch/all.err" || fail "all: '$line' missing from $(cat "$scratch/all.err")"
done
grep -q 'passes\|fails' "$scratch/all.err" && fail "all: lists a test that ran: $(cat "$scratch/all.err")"

expect 2 fewer_than_registered "$scratch/ran.xml" --expect 5
grep -qF '2 tests reported, but 5 are registered' "$scratch/fewer_than_registered.err" || fail "fewer: $(cat "$scratch/fewer_than_registered.err")"
report none '^no_such_test$'
expect 2 no_testcase "$scratch/none.xml"
expect 2 missing "$scratch/nowhere.xml"
echo 'not xml <' >"$scratch/garbage.xml"
expect 2 garbage "$scratch/garbage.xml"
sed 's/skipped="[0-9]*"/skipped="0"/' "$scratch/all.xml" >"$scratch/inconsistent.xml"
expect 2 inconsistent "$scratch/inconsistent.xml"
echo "check_skips: ok"

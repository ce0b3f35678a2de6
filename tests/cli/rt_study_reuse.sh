#!/usr/bin/env bash
# batchlab study [study] reuse = DIR: a study extends an earlier one's grid without rerunning the
# trials it already has (MLP on Fashion-MNIST, tiny budget, 1 rank):
#  1. study A: 2 batch sizes;
#  2. study B = A's grid + a batch size between A's, reuse = A: A's trials are copied (progress line says
#     "reused from A trial K"; trials.csv rows and the trial directories equal A's, A untouched),
#     the new batch size ran (its own provenance), and B prints its fit;
#  3. study C: B's grid with another [train] key (weight-decay) and reuse = A, B: nothing reused;
#     nor with another step budget (D) or rank count (E, 2 ranks); F (2 ranks) reuses E's trial;
#  4. resume of B without reuse (study.reuse is not part of the identity);
#  5. bad reuse dirs: one line naming study.reuse and the value, exit 2, nothing written.
# usage: rt_study_reuse.sh BATCHLAB_BIN SOURCE_DIR SCRATCH_DIR
source "$(dirname "${BASH_SOURCE[0]}")/lib_study.sh" "$@"
write_tiny_ini "$TMP/tiny.ini" 0.1 30
progress() { grep -c '^\[[0-9]*/[0-9]*\]' "$1" || true; }

# ---- 1. study A ----
"$BIN" study "$TMP/tiny.ini" --output.dir="$TMP/A" --no-plot > /dev/null 2> "$TMP/A.err" || {
  cat "$TMP/A.err"; fail "study A failed"; }
[ "$(progress "$TMP/A.err")" = 2 ] || { cat "$TMP/A.err"; fail "A: expected 2 progress lines"; }
! grep -q reused "$TMP/A.err" || fail "A: reused without study.reuse"
(cd "$TMP/A" && find . -type f -exec md5sum {} + | sort -k2) > "$TMP/A.md5"

# ---- 2. study B: A's grid + B=96 (B's trial 2 is A's trial 1), reuse = A (target "0.50" = 0.5) ----
"$BIN" study "$TMP/tiny.ini" --study.batch_sizes=64,96,128 --train.target=0.50 --study.reuse="$TMP/A" \
  --output.dir="$TMP/B" --no-plot > "$TMP/B.out" 2> "$TMP/B.err" || { cat "$TMP/B.err"; fail "study B failed"; }
[ "$(progress "$TMP/B.err")" = 3 ] || { cat "$TMP/B.err"; fail "B: expected 3 progress lines"; }
grep -q "^\[1/3\] .* B=64 .*reused from $TMP/A trial 0 " "$TMP/B.err" || { cat "$TMP/B.err"; fail "B=64 not reused from A trial 0"; }
grep -q "^\[3/3\] .* B=128 .*reused from $TMP/A trial 1 " "$TMP/B.err" || { cat "$TMP/B.err"; fail "B=128 not reused from A trial 1"; }
grep "^\[2/3\] .* B=96 " "$TMP/B.err" | grep -qv reused || { cat "$TMP/B.err"; fail "B=96 did not run"; }
grep -q 'B_crit' "$TMP/B.out" || fail "B: no fit table"
(cd "$TMP/A" && find . -type f -exec md5sum {} + | sort -k2) | cmp -s - "$TMP/A.md5" || fail "study B modified A"
diff -r "$TMP/A/trials/trial_00000" "$TMP/B/trials/trial_00000" > /dev/null || fail "B trial 0 is not a copy of A trial 0"
diff -r "$TMP/A/trials/trial_00001" "$TMP/B/trials/trial_00002" > /dev/null || fail "B trial 2 is not a copy of A trial 1"
/usr/bin/python3 - "$TMP/A" "$TMP/B" <<'EOF'
import csv, json, sys
a, b = sys.argv[1], sys.argv[2]
def rows(d, f, drop=()):
    return [{k: v for k, v in r.items() if k not in drop} for r in csv.DictReader(open(f"{d}/{f}"))]
B_OF_A = {"0": "0", "1": "2"}  # A's trial id -> B's
def by_id(rs):
    return {r["trial_id"]: {k: v for k, v in r.items() if k not in ("trial_id", "dir")} for r in rs}
ta, tb = by_id(rows(a, "trials.csv")), by_id(rows(b, "trials.csv"))
assert sorted(tb) == ["0", "1", "2"] and [tb[k]["batch_size"] for k in "012"] == ["64", "96", "128"], tb
# shared trials: the same row (trial_id aside), wall_s (the original run's) included
for ka, kb in B_OF_A.items():
    assert ta[ka] == tb[kb], (ta[ka], tb[kb])
ra, rb = by_id(rows(a, "real_trials.csv")), by_id(rows(b, "real_trials.csv"))
for ka, kb in B_OF_A.items():
    assert ra[ka] == rb[kb], (ra[ka], rb[kb])
ca, cb = rows(a, "curves.csv"), rows(b, "curves.csv")
for ka, kb in B_OF_A.items():
    strip = lambda rs, k: [{x: y for x, y in r.items() if x != "trial_id"} for r in rs if r["trial_id"] == k]
    assert strip(ca, ka) and strip(ca, ka) == strip(cb, kb), (ka, kb)
new = json.load(open(f"{b}/trials/trial_00001/summary.json"))
assert new["config"]["batch-size"] == 96
assert any(x.startswith(f"--output={b}/trials/trial_00001") for x in new["provenance"]["argv"]), "B=96 was not run by B"
EOF
grep -q '^reuse = ' "$TMP/B/config.ini" || fail "B: config.ini lacks study.reuse"

# ---- 3. study C: another [train] key, reuse = A,B: nothing may be reused ----
"$BIN" study "$TMP/tiny.ini" --study.batch_sizes=64,96,128 --train.weight-decay=0.0001 \
  --study.reuse="$TMP/A,$TMP/B" --output.dir="$TMP/C" --no-plot > /dev/null 2> "$TMP/C.err" || {
  cat "$TMP/C.err"; fail "study C failed"; }
[ "$(progress "$TMP/C.err")" = 3 ] || { cat "$TMP/C.err"; fail "C: expected 3 progress lines"; }
! grep -q "reused from" "$TMP/C.err" || { cat "$TMP/C.err"; fail "C reused a trial with another weight-decay"; }
# ... and another trial budget (study.max_steps) reuses nothing either (one batch size, quick)
"$BIN" study "$TMP/tiny.ini" --study.batch_sizes=128 --study.max_steps=31 --study.reuse="$TMP/A" \
  --output.dir="$TMP/D" --no-plot > /dev/null 2> "$TMP/D.err" || { cat "$TMP/D.err"; fail "study D failed"; }
! grep -q "reused from" "$TMP/D.err" || { cat "$TMP/D.err"; fail "D reused a trial with another step budget"; }
# ... and another rank count (2 ranks under mpiexec, same argv) reuses nothing; a 2-rank study
# reuses that 2-rank trial
root=""
[ "$(id -u)" = 0 ] && root=" --allow-run-as-root"
launcher="mpiexec -np {ranks} --oversubscribe$root -x OMP_NUM_THREADS={threads}"
"$BIN" study "$TMP/tiny.ini" --study.batch_sizes=128 --launcher.ranks=2 --launcher.command="$launcher" \
  --study.reuse="$TMP/A" --output.dir="$TMP/E" --no-plot > /dev/null 2> "$TMP/E.err" || { cat "$TMP/E.err"; fail "study E failed"; }
! grep -q "reused from" "$TMP/E.err" || { cat "$TMP/E.err"; fail "E (2 ranks) reused a 1-rank trial"; }
"$BIN" study "$TMP/tiny.ini" --study.batch_sizes=128 --launcher.ranks=2 --launcher.command="$launcher" \
  --study.reuse="$TMP/A,$TMP/E" --output.dir="$TMP/F" --no-plot > /dev/null 2> "$TMP/F.err" || { cat "$TMP/F.err"; fail "study F failed"; }
grep -q "reused from $TMP/E trial 0 " "$TMP/F.err" || { cat "$TMP/F.err"; fail "F did not reuse E's 2-rank trial"; }
/usr/bin/python3 - "$TMP/C" <<'EOF'
import json, sys
for k in range(3):
    t = json.load(open(f"{sys.argv[1]}/trials/trial_{k:05d}/summary.json"))
    assert t["config"]["weight-decay"] == 0.0001, t["config"]
EOF

# ---- 4. B's config without study.reuse still resumes B (reuse is not part of its identity) ----
"$BIN" study "$TMP/tiny.ini" --study.batch_sizes=64,96,128 --train.target=0.50 --output.dir="$TMP/B" \
  --no-plot > /dev/null 2> "$TMP/B2.err" || { cat "$TMP/B2.err"; fail "B without reuse does not resume"; }
grep -q "resuming" "$TMP/B2.err" && [ "$(progress "$TMP/B2.err")" = 0 ] || { cat "$TMP/B2.err"; fail "B rerun is no resume"; }

# ---- 5. bad reuse dirs: one line naming study.reuse and the value, exit 2, nothing written ----
bad_reuse() {  # bad_reuse NAME REUSE: the message names study.reuse and the value
  expect_bad "$1" "study.reuse = '$2'" "$TMP/tiny.ini" --study.reuse="$2"
}
bad_reuse missing "$TMP/nowhere"
bad_reuse missing_second "$TMP/A,$TMP/nowhere"
mkdir -p "$TMP/empty"
bad_reuse not_a_study "$TMP/empty"
write_sweep_ini "$TMP/sweep.ini"
"$BIN" sweep "$TMP/sweep.ini" --output.dir="$TMP/sweep" --no-plot > /dev/null 2>&1 || fail "reference sweep failed"
bad_reuse sweep_dir "$TMP/sweep"
# its own output dir is refused (a rerun resumes it)
run_bad own_dir "study.reuse = '$TMP/A': '$TMP/A' is this study's output.dir" "$TMP/tiny.ini" --study.reuse="$TMP/A" \
  --output.dir="$TMP/A" --no-plot
(cd "$TMP/A" && find . -type f -exec md5sum {} + | sort -k2) | cmp -s - "$TMP/A.md5" || fail "A was modified"
echo "rt_study_reuse: ok"

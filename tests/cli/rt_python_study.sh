#!/usr/bin/env bash
# batchlab.study() from Python on real training runs what `batchlab study` runs: the tiny
# Fashion-MNIST MLP study (2 batch sizes x 2 lrs, lib_study.sh) once through the module and once
# through the CLI gives the same trials.csv (wall_s aside), steps_vs_batch.csv and real_trials.csv
# statuses/steps, and the Study object's DataFrames hold those rows; a bad override raises
# batchlab.ConfigError with the CLI's one line.
# usage: rt_python_study.sh BATCHLAB_BIN SOURCE_DIR SCRATCH_DIR
source "$(dirname "${BASH_SOURCE[0]}")/lib_study.sh" "$@"
PYDIR=$(cd "$(dirname "$BIN")/../python" 2>/dev/null && pwd) || {
  echo "rt_python_study: skipped: the Python module is not built (pybind11 missing)"; exit 77; }
write_tiny_ini "$TMP/tiny.ini" 0.05,0.2 40

"$BIN" study "$TMP/tiny.ini" --output.dir="$TMP/cli" --no-plot > "$TMP/cli.out" 2> "$TMP/cli.err" || {
  cat "$TMP/cli.err"; fail "CLI study exited $?"; }
"$BIN" study "$TMP/tiny.ini" --output.dir="$TMP/bad" --train.model=vgg > /dev/null 2> "$TMP/bad.err" && fail "bad model accepted"
PYTHONPATH=$PYDIR /usr/bin/python3 - "$TMP" <<'PY' || fail "python study() differs from the CLI's"
import csv, sys
import batchlab
tmp = sys.argv[1]
s = batchlab.study(f"{tmp}/tiny.ini", plot=False, progress=True, **{"output.dir": f"{tmp}/py"})
def rows(d, f, drop=()):
    return [{k: v for k, v in r.items() if k not in drop} for r in csv.DictReader(open(f"{d}/{f}"))]
assert rows(f"{tmp}/py", "trials.csv", ("wall_s",)) == rows(f"{tmp}/cli", "trials.csv", ("wall_s",)), "trials.csv"
assert open(f"{tmp}/py/steps_vs_batch.csv").read() == open(f"{tmp}/cli/steps_vs_batch.csv").read(), "steps_vs_batch.csv"
keep = ("trial_id", "status", "steps")
assert [{k: r[k] for k in keep} for r in rows(f"{tmp}/py", "real_trials.csv")] == \
       [{k: r[k] for k in keep} for r in rows(f"{tmp}/cli", "real_trials.csv")], "real_trials.csv"
assert len(s.trials) == 4 and list(s.trials["batch_size"]) == [64, 64, 128, 128], s.trials
assert len(s.steps_vs_batch) == 2
expected = open(f"{tmp}/bad.err").read().strip()
try:
    batchlab.study(f"{tmp}/tiny.ini", plot=False, **{"output.dir": f"{tmp}/bad", "train.model": "vgg"})
    raise SystemExit("bad model accepted")
except batchlab.ConfigError as e:
    assert str(e) == expected, (str(e), expected)
print("python study == CLI study")
PY
echo "rt_python_study: ok"

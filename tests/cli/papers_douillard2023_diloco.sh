#!/usr/bin/env bash
# papers/douillard2023_diloco/report.py measures what its README claims, on a synthetic results
# folder with known answers (no run needed):
#   - the best inner lr of an arm is the one with the fewest mean steps among the lrs that reach
#     the target in every seed (an lr with one failed seed is skipped even if faster), and its
#     bytes to target are that lr's mean comm_bytes;
#   - the real arms' bytes to target are metrics.csv's comm_bytes at summary.json's steps_to_target,
#     for the Fashion-MNIST setting (real/, test accuracy) and the GPT setting (real_gpt/, validation
#     loss, arms sync, local, diloco, streaming4: rows real_gpt in summary.csv, claims "real GPT");
#   - summary.csv's ratios and each claim's verdict follow the stated thresholds (DiLoCo within
#     1.25x sync's steps, >= H/2 x fewer bytes, fewer steps than local:H; streaming within 1.25x
#     DiLoCo's steps, >= 4x fewer bytes than DiLoCo and >= 100x fewer than sync), "yes" and "no"
#     both occurring;
#   - report.py, run from a scratch copy of the paper on a folder of the record's mode (--quick while
#     report.py's RECORD_IS_QUICK is True, else full), writes that copy's README generated section
#     (headed by the quick-record line iff quick), figure.png and summary.csv, changes nothing outside
#     the GENERATED markers, and leaves the source paper folder as it was; with RECORD_IS_QUICK False
#     a --quick folder gets report.md, figure.png and summary.csv and the paper copy is left as it was.
# usage: papers_douillard2023_diloco.sh BATCHLAB_BIN SOURCE_DIR SCRATCH_DIR   (BATCHLAB_BIN is not used)
set -euo pipefail
SRC=$2 SCRATCH=$3
PY=/usr/bin/python3
rm -rf "$SCRATCH" && mkdir -p "$SCRATCH/repo/papers/douillard2023_diloco"
find "$SRC/papers/douillard2023_diloco" -maxdepth 1 -type f -exec cp {} "$SCRATCH/repo/papers/douillard2023_diloco/" \;
cp "$SRC/papers/_lib.py" "$SCRATCH/repo/papers/"
P=$SCRATCH/repo/papers/douillard2023_diloco
before=$(cd "$SRC/papers/douillard2023_diloco" && md5sum README.md figure.png summary.csv)
cp "$P/README.md" "$SCRATCH/README.committed"
QUICK_RECORD=$(grep -cx 'RECORD_IS_QUICK = True' "$P/report.py" || true)  # 1: the record is a --quick run
"$PY" - "$SCRATCH/res" "$QUICK_RECORD" <<'PYEOF'
import csv, json, os, sys
res, quick = sys.argv[1], sys.argv[2] == "1"
d_param = 1000  # values exchanged per all-reduce
def sweep(land, arm, policy, rows, extra=""):
    d = os.path.join(res, f"sim_{land}", arm)
    os.makedirs(d)
    open(os.path.join(d, "config.ini"), "w").write(
        f"[sync]\npolicy = {policy}\nworkers = 8\n{extra}\n[study]\nbatch_sizes = 1024\ntarget = 0.003\n")
    with open(os.path.join(d, "trials.csv"), "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["lr", "seed", "status", "steps_to_target", "comm_bytes"])
        for lr, seed, steps in rows:
            st = "reached" if steps > 0 else "not_reached"
            w.writerow([lr, seed, st, steps, (4 * d_param * steps // period(policy)) if steps > 0 else 9])
def period(policy):
    return 1 if policy == "sync" else int(policy.split(":")[1].split("@")[0])
# nqm: DiLoCo matches sync (1.1x), streaming 4-bit within 1.2x; H = 50. The lr 0.1 of diloco is
# faster but one seed fails: skipped. mlp: DiLoCo 2x sync's steps, slower than local.
for land, s_sync, s_loc, s_dl, s_st in (("nqm", 500, 600, 550, 650), ("mlp", 300, 400, 600, 650)):
    sweep(land, "sync", "sync", [(0.01, 0, s_sync), (0.01, 1, s_sync + 20), (0.03, 0, -1), (0.03, 1, 100)])
    sweep(land, "local", "local:50", [(0.01, 0, s_loc), (0.01, 1, s_loc)])
    sweep(land, "post_local", "post-local:50@200", [(0.01, 0, s_sync), (0.01, 1, s_sync)])
    sweep(land, "diloco", "diloco:50", [(0.001, 0, s_dl + 100), (0.001, 1, s_dl + 100), (0.01, 0, s_dl),
                                        (0.01, 1, s_dl), (0.1, 0, 50), (0.1, 1, -1)])
    sweep(land, "streaming4", "streaming-diloco:50:5", [(0.01, 0, s_st), (0.01, 1, s_st)], "outer_bits = 4")
# streaming's bytes: 4-bit codes, ~8x fewer per exchange than 32-bit ones.
for land in ("nqm", "mlp"):
    p = os.path.join(res, f"sim_{land}", "streaming4", "trials.csv")
    rows = list(csv.DictReader(open(p)))
    for r in rows:
        r["comm_bytes"] = str(int(r["comm_bytes"]) // 8)
    with open(p, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
# real: steps to 0.86 sync 300, diloco 360 (1.2x), streaming 500 (1.39x diloco's: a "no").
def real(arm, sync, steps, bits=32, setting="real", n_param=269322):
    d = os.path.join(res, setting, arm)
    os.makedirs(d)
    h = 1 if sync == "sync" else int(sync.split(":")[1].split("@")[0])
    with open(os.path.join(d, "metrics.csv"), "w") as f:
        f.write("step,eval_accuracy,comm_bytes\n")
        for s in range(20, steps + 41, 20):
            f.write(f"{s},0.8,{4 * n_param * s // h * bits // 32 + (7 if s == steps else 0)}\n")
    cfg = {"sync": sync, "outer": "nesterov", "outer-lr": 0.7, "outer-momentum": 0.9, "outer-bits": bits,
           "outer-rounding": "stochastic", "outer-overlap": bits == 4, "outer-overlap-steps": 1,
           "batch-size": 256, "lr": 0.001}
    summary = {"status": "reached", "steps_to_target": steps, "final_accuracy": 0.861, "steps": steps,
               "target": 0.86, "target_loss": None, "final_eval_loss": 0.4, "wall_s": 10.0, "config": cfg}
    if sync.startswith(("diloco", "streaming")):
        summary["diloco"] = {"outer_steps": steps // h, "quant_relative_error": 0.0 if bits == 32 else 0.3712}
    if setting == "real_gpt":  # a language model's run: validation loss to a target
        cfg.update({"model": "gpt:2-64-4-64", "batch-size": 32, "lr": 0.002})
        summary.update({"target": None, "target_loss": 2.4, "final_eval_loss": 2.3987, "final_accuracy": 0.31})
    json.dump(summary, open(os.path.join(d, "summary.json"), "w"))
real("sync", "sync", 300); real("local", "local:20", 400); real("post_local", "post-local:20@80", 320)
real("diloco", "diloco:20", 360); real("streaming4", "streaming-diloco:20:4", 500, bits=4)
json.dump({"wall_s": 50.0}, open(os.path.join(res, "real", "timing.json"), "w"))
# GPT: sync 200, local 220, diloco 240 (1.2x sync's: "yes"; slower than local: "no"), streaming 260
# (1.08x diloco's, 240 * 8 / 260 = 7.4x fewer bytes than diloco's, 200 * 20 * 8 / 260 = 123x fewer than sync's).
for arm, pol, steps, bits in (("sync", "sync", 200, 32), ("local", "local:20", 220, 32), ("diloco", "diloco:20", 240, 32),
                              ("streaming4", "streaming-diloco:20:4", 260, 4)):
    real(arm, pol, steps, bits, setting="real_gpt", n_param=120576)
json.dump({"wall_s": 40.0}, open(os.path.join(res, "real_gpt", "timing.json"), "w"))
json.dump({"wall_s": 99.0, "quick": quick, "cpus": 2, "load_avg_1min": 1.0}, open(os.path.join(res, "timing.json"), "w"))
PYEOF
"$PY" "$P/report.py" "$SCRATCH/res" > "$SCRATCH/report.out"
after=$(cd "$SRC/papers/douillard2023_diloco" && md5sum README.md figure.png summary.csv)
[[ "$before" == "$after" ]] || { echo "FAIL: report.py on a scratch copy changed the source paper folder"; exit 1; }
for f in figure.png summary.csv; do [[ -s "$P/$f" ]] || { echo "FAIL: no $f in the paper copy"; exit 1; }; done
[[ -e "$SCRATCH/res/report.md" ]] && { echo "FAIL: the record went to the results folder's report.md"; exit 1; }
"$PY" - "$P" "$SCRATCH/README.committed" "$QUICK_RECORD" <<'PYEOF'
import csv, os, sys
paper, committed, quick = sys.argv[1], sys.argv[2], sys.argv[3] == "1"
BEGIN, END = "<!-- BEGIN GENERATED", "<!-- END GENERATED -->"
rows = {(r["arm"], r["policy"].split(" ")[0]): r for r in csv.DictReader(open(os.path.join(paper, "summary.csv")))}
readme = open(os.path.join(paper, "README.md")).read()
md = readme.split(BEGIN, 1)[1].split(END, 1)[0]
fails = []
def outside(text):
    return text.split(BEGIN, 1)[0] + text.split(END, 1)[1]
def check(ok, what):
    print(("ok   " if ok else "FAIL ") + what)
    if not ok:
        fails.append(what)
dl = rows[("sim_nqm", "diloco:50")]
check(float(dl["lr"]) == 0.01 and float(dl["steps_to_target"]) == 550,
      f"best lr skips the faster lr with a failed seed: lr {dl['lr']}, steps {dl['steps_to_target']}")
check(float(dl["bytes_to_target"]) == 4000 * 550 // 50, f"bytes to target = that lr's mean comm_bytes: {dl['bytes_to_target']}")
sy = rows[("sim_nqm", "sync")]
check(float(sy["steps_to_target"]) == 510 and float(sy["bytes_to_target"]) == 4000 * 510,
      f"sync: mean over seeds (500, 520) = 510 steps: {sy['steps_to_target']}")
check(abs(float(dl["steps_over_sync"]) - 550 / 510) < 1e-12, f"steps ratio {dl['steps_over_sync']}")
check(abs(float(dl["bytes_sync_over_this"]) - 4000 * 510 / (4000 * 550 // 50)) < 1e-9, f"bytes ratio {dl['bytes_sync_over_this']}")
rd = rows[("real_fmnist", "diloco:20")]
check(float(rd["bytes_to_target"]) == 4 * 269322 * 360 // 20 + 7,
      f"real: bytes at the steps_to_target row of metrics.csv: {rd['bytes_to_target']}")
gd, gs = rows[("real_gpt", "diloco:20")], rows[("real_gpt", "streaming-diloco:20:4")]
check(float(gd["bytes_to_target"]) == 4 * 120576 * 240 // 20 + 7 and float(gd["steps_to_target"]) == 240,
      f"real GPT: diloco's steps and bytes at its steps_to_target row: {gd['steps_to_target']}, {gd['bytes_to_target']}")
check(abs(float(gs["steps_over_sync"]) - 260 / 200) < 1e-12, f"real GPT: streaming steps / sync = {gs['steps_over_sync']}")
check(abs(float(gs["bytes_sync_over_this"]) - (4 * 120576 * 200 + 7) / (4 * 120576 * 260 // 20 * 4 // 32 + 7)) < 1e-9,
      f"real GPT: sync / streaming bytes = {gs['bytes_sync_over_this']}")
gpt_rows = sorted(p for a, p in rows if a == "real_gpt")
check(gpt_rows == ["diloco:20", "local:20", "streaming-diloco:20:4", "sync"], f"real GPT: the four arms' rows: {gpt_rows}")
check("target validation loss 2.4" in md and "final validation loss" in md and "2.3987 after 240" in md,
      "real GPT: the table says the loss target and each run's final validation loss")
check("| 2.3987 after 260 | 0.37 |" in md and "| 2.3987 after 240 | 0.00 |" in md and "| 2.3987 after 220 | — |" in md,
      "real GPT: the quantisation error column (summary.json diloco.quant_relative_error; — without outer steps)")
def verdict(claim_start):
    line = [l for l in md.splitlines() if l.startswith("| " + claim_start)]
    assert len(line) == 1, (claim_start, line)
    return line[0].rstrip(" |").endswith("yes")
want = {
    "sim nqm: DiLoCo (H = 50) matches": True, "sim nqm: DiLoCo communicates": True,
    "sim nqm: the outer Nesterov": True, "sim nqm: Streaming DiLoCo": True, "sim nqm: and cuts": True,
    "sim mlp: DiLoCo (H = 50) matches": False, "sim mlp: the outer Nesterov": False,
    "sim mlp: Streaming DiLoCo": True,
    "real FMNIST: DiLoCo (H = 20) matches": True, "real FMNIST: the outer Nesterov": True,
    "real FMNIST: Streaming DiLoCo": False, "real FMNIST: and cuts": False,
    "real GPT: DiLoCo (H = 20) matches": True, "real GPT: DiLoCo communicates": True,
    "real GPT: the outer Nesterov": False, "real GPT: Streaming DiLoCo": True, "real GPT: and cuts": True,
}
for k, v in want.items():
    check(verdict(k) == v, f"claim '{k}...' is {'yes' if v else 'no'}")
mode = "`--quick`" if quick else "full"
check("claim checks confirmed" in md and f"run.sh ({mode}) took" in md, f"README: the {mode} run's line and the count")
check(md.split("\n", 1)[1].startswith("**This is the `--quick` run**") == quick,
      "README: the generated section opens with the quick-record line iff the record is a --quick run")
check(outside(readme) == outside(open(committed).read()), "README: nothing outside the GENERATED markers changed")
sys.exit(1 if fails else 0)
PYEOF
if [[ "$QUICK_RECORD" != 1 ]]; then  # a --quick run beside a full record: results_quick/ only
  cp -r "$SCRATCH/res" "$SCRATCH/res_quick"
  "$PY" -c "import json, sys; p = sys.argv[1]; t = json.load(open(p)); t['quick'] = True; json.dump(t, open(p, 'w'))" \
    "$SCRATCH/res_quick/timing.json"
  record=$(cd "$P" && md5sum README.md figure.png summary.csv)
  "$PY" "$P/report.py" "$SCRATCH/res_quick" > /dev/null
  [[ "$record" == "$(cd "$P" && md5sum README.md figure.png summary.csv)" ]] || { echo "FAIL: a --quick run changed the full record"; exit 1; }
  for f in report.md figure.png summary.csv; do [[ -s "$SCRATCH/res_quick/$f" ]] || { echo "FAIL: no results_quick $f"; exit 1; }; done
  echo "ok   a --quick run goes to its own folder, the full record stays"
fi
echo PASS

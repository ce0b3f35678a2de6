#!/usr/bin/env bash
# papers/merrill2025_batch_warmup/report.py checks its claims on the numbers it is given, either way:
# on a synthetic results folder (the files run.sh's commands write, with planted numbers) marked as a
# --quick run, report.py (run from a scratch copy of the paper, since its record is the quick run's:
# RECORD_IS_QUICK) writes the README's generated section, figure.png and summary.csv, changes nothing
# outside the GENERATED markers, confirms the claims the planted numbers satisfy, and refuses ("**no**")
# each one once its number is flipped: the warm-up's loss above the fixed small batch's, B_simple above
# the branched estimate, an estimate off the analytic bend by more than 2x, a shrinking critical batch.
# usage: papers_merrill2025.sh BATCHLAB_BIN SOURCE_DIR SCRATCH_DIR   (BATCHLAB_BIN is not used)
set -euo pipefail
SRC=$2 SCRATCH=$3
rm -rf "$SCRATCH" && mkdir -p "$SCRATCH"
/usr/bin/python3 - "$SRC" "$SCRATCH" <<'PYEOF'
import csv, json, os, shutil, subprocess, sys
src, scratch = sys.argv[1], sys.argv[2]
paper = os.path.join(scratch, "repo", "papers", "merrill2025_batch_warmup")
shutil.copytree(os.path.join(src, "papers", "merrill2025_batch_warmup"), paper,
                ignore=shutil.ignore_patterns("results*"))
shutil.copy(os.path.join(src, "papers", "_lib.py"), os.path.join(scratch, "repo", "papers"))
report = os.path.join(paper, "report.py")
readme0 = open(os.path.join(paper, "README.md")).read()
BEGIN, END = "<!-- BEGIN GENERATED", "<!-- END GENERATED -->"
fails = []

def check(ok, what):
    print(("ok   " if ok else "FAIL ") + what)
    if not ok:
        fails.append(what)

def write(path, text):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(text)

def results(d, nqm_b=(16, 128), nqm_bs=(5.0, 40.0), nqm_an=(20.0, 150.0), real_b=(64, 256), real_bs=(10.0, 30.0),
            warm_loss=0.40, small_loss=0.41, large_loss=0.45):
    shutil.rmtree(d, ignore_errors=True)
    write(f"{d}/timing.json", json.dumps({"wall_s": 1.0, "quick": True, "host": "h", "cpus": 2, "load_avg_1min": 1.0}))
    rows = "step,examples,batch,loss_at_branch,b_branch,below_first,b_simple,analytic_b_crit\n"
    for i, t in enumerate((250, 16000)):
        rows += f"{t},{t * 8},8,1.0,{nqm_b[i]},false,{nqm_bs[i]},{nqm_an[i]}\n"
    write(f"{d}/nqm/branch/branch_over_training.csv", rows)
    write(f"{d}/nqm/warmup/warmup.json", json.dumps({
        "final_batch": 64, "steps": 100, "examples": 4096, "final_loss": warm_loss, "batch_milestones": [1024, 2048, 3072],
        "fixed_small": {"batch": 8, "steps": 512, "examples": 4096, "final_loss": small_loss},
        "fixed_large": {"batch": 64, "steps": 64, "examples": 4096, "final_loss": large_loss}}))
    for i, t in enumerate((50, 400)):
        write(f"{d}/real/branch_t{t}/branch.json", json.dumps({"branch_step": t, "branch_examples": t * 32,
              "b_branch": real_b[i], "below_first": False, "loss_at_branch": 0.5}))
        write(f"{d}/real/base_t{t}/metrics.csv", f"step,examples,b_simple,eval_loss\n{t},{t * 32},{real_bs[i]},0.5\n")
    write(f"{d}/real/warmup/warmup.json", json.dumps({"final_batch": 128, "steps": 300, "examples": 32768,
          "final_loss": warm_loss, "batch_milestones": [4096, 8192]}))
    for arm, b, s, loss in (("fixed_small", 32, 1024, small_loss), ("fixed_large", 128, 256, large_loss)):
        write(f"{d}/real/{arm}/summary.json", json.dumps({"config": {"batch-size": b, "lr": 0.001}, "steps": s,
              "examples": 32768, "final_eval_loss": loss}))
        write(f"{d}/real/{arm}/metrics.csv", f"step,examples,eval_loss\n{s},32768,{loss}\n")
    return d

def verdicts(d):
    r = subprocess.run([sys.executable, report, d], capture_output=True, text=True)
    if r.returncode != 0:
        return None, r.stderr
    text = open(os.path.join(paper, "README.md")).read()
    claims = {}
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip("|").split("|")]
        if len(cells) == 3 and cells[2] in ("yes", "**no**"):
            claims[cells[0]] = cells[2] == "yes"
    return claims, text

good, text = verdicts(results(os.path.join(scratch, "good")))
check(good is not None, "report.py runs on a complete results folder: " + ("" if good else str(text)[-300:]))
if good:
    check(len(good) == 11 and all(good.values()), f"all 11 claims confirmed on the planted numbers: {good}")
    for f in ("figure.png", "summary.csv"):
        check(os.path.exists(os.path.join(paper, f)), f"the quick run's {f} is in the paper folder (its record)")
    readme = open(os.path.join(paper, "README.md")).read()
    check(readme.split(BEGIN)[0] == readme0.split(BEGIN)[0] and readme.split(END)[1] == readme0.split(END)[1],
          "README.md changes only between the GENERATED markers")
    check("**This is the `--quick` run**" in readme, "the generated section says it is the quick run")
    rows = list(csv.DictReader(open(os.path.join(paper, "summary.csv"))))
    check(len(rows) == 2 + 2 + 3 + 3, f"summary.csv: one row per branch point and warm-up arm ({len(rows)})")

def flipped(name, key_part, **kw):
    got, _ = verdicts(results(os.path.join(scratch, name), **kw))
    hit = {c: ok for c, ok in (got or {}).items() if key_part in c}
    check(bool(hit) and not all(hit.values()), f"{name}: a claim with '{key_part}' turns to no: {hit}")

flipped("worse_warmup", "reaches the fixed small batch's loss", warm_loss=0.43)
flipped("bsimple_above", "B_simple underestimates", real_bs=(10.0, 300.0))
flipped("off_bend", "within a factor 2 of the analytic", nqm_an=(20.0, 400.0))
flipped("shrinking", "grows during training", nqm_b=(128, 16))
flipped("large_better", "fixed large batch", large_loss=0.39)
sys.exit(1 if fails else 0)
PYEOF

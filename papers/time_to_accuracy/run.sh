#!/usr/bin/env bash
# Time to accuracy, predicted and measured (issue 12): `batchlab plan` predicts the training wall
# time to the target of `batchlab train` on 1 and 2 ranks at several batch sizes, from the
# committed real MLP study (papers/_shared/fmnist_real_study/mlp: S(B) to test accuracy 0.85) and
# step-time profiles measured by `batchlab bench-step` around them; report.py compares. Each
# repeat measures a profile, trains at every (K, B), and measures a profile again, so a
# prediction and its measurement see the same load from other jobs. Then the ImageNet worked
# example: the planner on published step counts with hand-written profiles (imagenet/).
# Full: 3 repeats x (64, 256, 1024, 4096) x (1, 2 ranks), ~20-30 min here; --quick: 1 repeat of
# (256, 1024), ~6 min.
source "$(dirname "${BASH_SOURCE[0]}")/../common.sh" "$@"
BIN=$(batchlab_bin rt)
STUDY="$PAPERS_DIR/_shared/fmnist_real_study/mlp"
MPI=(mpirun -np 2 --allow-run-as-root --bind-to none -x OMP_NUM_THREADS=1)
BATCHES=(64 256 1024 4096)
REPEATS=3
if ((QUICK)); then BATCHES=(256 1024); REPEATS=1; fi
LOCAL=32,64,128,256,512,1024,2048,4096  # covers B / K for every (K, B) above
fresh_out

load() { cut -d' ' -f1-3 /proc/loadavg; }

# The `batchlab train` argv of the study's best trial at batch size $1, as the study itself builds
# it (`batchlab study --check` prints the first trial's argv; the grid is narrowed to that batch
# size and that trial's lr multiplier). The resolved config.ini is read back without its empty
# values and the train length keys the study replaces (study.max_steps / max_epochs set them).
grep -v -E '= *$|^(steps|epochs|eval-every) =' "$STUDY/config.ini" > "$OUT/study_config.ini"
train_args() {
  local b=$1 mult
  mult=$("$PY" - "$STUDY" "$b" <<'PY'
import csv, sys
best = next(r for r in csv.DictReader(open(sys.argv[1] + "/steps_vs_batch.csv")) if r["batch_size"] == sys.argv[2])
t = next(r for r in csv.DictReader(open(sys.argv[1] + "/trials.csv"))
         if r["batch_size"] == sys.argv[2] and r["lr"] == best["lr"] and r["steps_to_target"] == best["steps_to_target"])
print(t["lr_multiplier"])
PY
)
  "$BIN" study "$OUT/study_config.ini" --check --study.batch_sizes="$b" --study.lr_grid="scaled:$mult:$mult:1" \
    --output.dir="$OUT/check" | sed -n 's/^train argv: *//p' | sed 's/ --output=[^ ]*//'
}

# bench_and_plan R WHEN: a profile of this machine now (R/profile_WHEN.json) and the plan it
# gives for every (K, B) (R/plan_WHEN/).
bench_and_plan() {
  local R=$1 when=$2
  echo "$(load)" > "$R/bench_${when}_load.txt"
  "${MPI[@]}" "$BIN" bench-step --model mlp --threads 1 --loader-threads 1 --local-batches "$LOCAL" \
    --rounds 2 --output "$R/profile_$when.json" > "$R/bench_$when.log"
  echo "$(load)" >> "$R/bench_${when}_load.txt"
  "$BIN" plan "$STUDY" --profile "$R/profile_$when.json" --workers 1,2 \
    --batch-sizes "$(IFS=,; echo "${BATCHES[*]}")" --no-plot --output "$R/plan_$when" > "$R/plan_$when.log"
}

# Each repeat: a profile, the trainings, another profile. The prediction of a repeat is the mean
# of the two profiles' plans, so load from other jobs that drifts during the trainings reaches
# the prediction as well as the measurement.
for r in $(seq 1 "$REPEATS"); do
  R="$OUT/mlp/r$r"
  mkdir -p "$R"
  echo "repeat $r: bench-step (load $(load))" >&2
  bench_and_plan "$R" before
  for b in "${BATCHES[@]}"; do
    read -r -a args <<< "$(train_args "$b")"
    for k in 1 2; do
      T="$R/train_K${k}_B${b}"
      mkdir -p "$T"
      echo "$(load)" > "$T/load.txt"
      launcher=()
      ((k > 1)) && launcher=("${MPI[@]}")
      "${launcher[@]}" "$BIN" train "${args[@]}" --output="$T" > "$T/train.log"
      echo "$(load)" >> "$T/load.txt"
      echo "  K = $k, B = $b: $(tail -1 "$T/train.log")" >&2
    done
  done
  echo "repeat $r: bench-step again (load $(load))" >&2
  bench_and_plan "$R" after
done
# The planner's full picture for this machine from the last profile: every measured B, K = 1, 2.
"$BIN" plan "$STUDY" --profile "$R/profile_after.json" --workers 1,2 --output "$OUT/mlp/plan_all" \
  > "$OUT/mlp/plan_all.log"

# ImageNet worked example: published step counts (90 epochs) and hand-written profiles of the
# published step times, at the published worker count and at half and twice that.
mkdir -p "$OUT/imagenet"
for spec in goyal2017_p100:256:8192 you2018_knl:2048:32768 ying2018_tpuv3:1024:32768; do
  IFS=: read -r name k b <<< "$spec"
  "$BIN" plan "$HERE/imagenet/published_steps.csv" --profile "$HERE/imagenet/$name.json" \
    --workers "$((k / 2)),$k,$((k * 2))" --batch-sizes "$b" --no-plot --output "$OUT/imagenet/$name" \
    > "$OUT/imagenet/$name.log"
done
finish

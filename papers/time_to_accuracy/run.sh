#!/usr/bin/env bash
# Time to accuracy, predicted and measured (issue 12): `batchlab plan` predicts the training wall
# time to the target of `batchlab train` on 1 and 2 ranks at several batch sizes, from the
# committed real MLP and Simple CNN studies (papers/_shared/fmnist_real_study/{mlp,simple_cnn_small}:
# S(B) to test accuracy 0.85) and
# step-time profiles measured by `batchlab bench-step` around them; report.py compares. Each
# repeat measures a profile, trains at every (K, B), and measures a profile again, so a
# prediction and its measurement see the same load from other jobs. Then the ImageNet worked
# example: the planner on published step counts with hand-written profiles (imagenet/).
# Full: MLP 3 repeats x (64, 256, 1024, 4096) x (1, 2 ranks), Simple CNN 2 repeats x (64, 256) x
# (1, 2 ranks); --quick: 1 repeat of MLP (256, 1024) and CNN 64.
source "$(dirname "${BASH_SOURCE[0]}")/../common.sh" "$@"
BIN=$(batchlab_bin rt)
SHARED="$PAPERS_DIR/_shared/fmnist_real_study"
MPI=(mpirun -np 2 --allow-run-as-root --bind-to none -x OMP_NUM_THREADS=1)
# The two arms: NAME STUDY BATCHES LOCAL_BATCHES REPEATS (full), then the quick grid.
#   mlp         the real MLP study (S(B) to 0.85 at B = 16..16384); four batch sizes, 3 repeats.
#   simple_cnn  the reduced Simple CNN study (S(B) to 0.85 at B = 64, 256; 1024 did not reach it
#               in its budget, so it has no time to predict); 2 repeats (a CNN update is ~50x an
#               MLP update here).
ARMS=("mlp $SHARED/mlp 64,256,1024,4096 32,64,128,256,512,1024,2048,4096 3"
      "simple_cnn $SHARED/simple_cnn_small 64,256 32,64,128,256 2")
if ((QUICK)); then
  ARMS=("mlp $SHARED/mlp 256,1024 128,256,512,1024 1" "simple_cnn $SHARED/simple_cnn_small 64 32,64 1")
fi
fresh_out

load() { cut -d' ' -f1-3 /proc/loadavg; }

# The `batchlab train` argv of the study's best trial at batch size $2 of study $1, as the study
# itself builds it (`batchlab study --check` prints the first trial's argv; the grid is narrowed
# to that batch size and that trial's lr multiplier). The resolved config.ini is read back
# without its empty values and the train length keys the study replaces (study.max_steps /
# max_epochs set them).
train_args() {
  local study=$1 b=$2 mult cfg="$OUT/$(basename "$1")_config.ini"
  grep -v -E '= *$|^(steps|epochs|eval-every) =' "$study/config.ini" > "$cfg"
  mult=$("$PY" - "$study" "$b" <<'PY'
import csv, sys
best = next(r for r in csv.DictReader(open(sys.argv[1] + "/steps_vs_batch.csv")) if r["batch_size"] == sys.argv[2])
t = next(r for r in csv.DictReader(open(sys.argv[1] + "/trials.csv"))
         if r["batch_size"] == sys.argv[2] and r["lr"] == best["lr"] and r["steps_to_target"] == best["steps_to_target"])
print(t["lr_multiplier"])
PY
)
  "$BIN" study "$cfg" --check --study.batch_sizes="$b" --study.lr_grid="scaled:$mult:$mult:1" \
    --output.dir="$OUT/check" | sed -n 's/^train argv: *//p' | sed 's/ --output=[^ ]*//'
}

# bench_and_plan R WHEN: a profile of this machine now (R/profile_WHEN.json) and the plan it
# gives for every (K, B) of the arm (R/plan_WHEN/).
bench_and_plan() {
  local R=$1 when=$2
  echo "$(load)" > "$R/bench_${when}_load.txt"
  "${MPI[@]}" "$BIN" bench-step --model "$MODEL" --threads 1 --loader-threads 1 --local-batches "$LOCAL" \
    --rounds 2 --output "$R/profile_$when.json" > "$R/bench_$when.log"
  echo "$(load)" >> "$R/bench_${when}_load.txt"
  "$BIN" plan "$STUDY" --profile "$R/profile_$when.json" --workers 1,2 \
    --batch-sizes "$BATCHES" --no-plot --output "$R/plan_$when" > "$R/plan_$when.log"
}

# Each repeat: a profile, the trainings, another profile. The prediction of a repeat is the mean
# of the two profiles' plans, so load from other jobs that drifts during the trainings reaches
# the prediction as well as the measurement.
for arm in "${ARMS[@]}"; do
  read -r NAME STUDY BATCHES LOCAL REPEATS <<< "$arm"
  MODEL=$(sed -n 's/^model *= *//p' "$STUDY/config.ini")
  for r in $(seq 1 "$REPEATS"); do
    R="$OUT/$NAME/r$r"
    mkdir -p "$R"
    echo "$NAME repeat $r: bench-step (load $(load))" >&2
    bench_and_plan "$R" before
    for b in ${BATCHES//,/ }; do
      read -r -a args <<< "$(train_args "$STUDY" "$b")"
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
    echo "$NAME repeat $r: bench-step again (load $(load))" >&2
    bench_and_plan "$R" after
  done
  # The planner's full picture for this machine from the last profile: every measured B, K = 1, 2.
  "$BIN" plan "$STUDY" --profile "$R/profile_after.json" --workers 1,2 --output "$OUT/$NAME/plan_all" \
    > "$OUT/$NAME/plan_all.log"
done

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

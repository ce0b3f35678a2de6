#!/usr/bin/env bash
# Failure handling: a rank killed (SIGKILL) in the middle of a 2-rank job that loops all-reduces
# must make the whole job end with a non-zero status within 60 s instead of leaving the other
# rank blocked in a collective forever. Under mpirun this is the launcher's job (it notices the
# lost process and tears down the others); this test measures it.
#   bash rt_comm_kill.sh BATCHLAB_BIN SOURCE_DIR SCRATCH_DIR
set -u
bin=$1 scratch=$3
bench=$(dirname "$bin")/bench_torch_allreduce
fail() { echo "rt_comm_kill: FAIL: $*"; [[ -f $scratch/job.log ]] && sed 's/^/  job: /' "$scratch/job.log"; exit 1; }
[[ -x $bench ]] || fail "$bench is not built"
rm -rf "$scratch" && mkdir -p "$scratch"
root_flag=()
[[ $(id -u) == 0 ]] && root_flag=(--allow-run-as-root)

OMP_NUM_THREADS=1 mpiexec -np 2 --oversubscribe "${root_flag[@]}" \
  "$bench" --loop-seconds 300 --pid-dir "$scratch" >"$scratch/job.log" 2>&1 &
job=$!
trap 'kill -KILL $job 2>/dev/null' EXIT

for _ in $(seq 1200); do  # up to 120 s for both ranks to start looping (slow shared machine)
  [[ -s $scratch/rank0.pid && -s $scratch/rank1.pid ]] && break
  kill -0 $job 2>/dev/null || fail "job ended before both ranks started"
  sleep 0.1
done
[[ -s $scratch/rank1.pid ]] || fail "ranks did not start within 120 s"
sleep 1  # both ranks are now inside the all-reduce loop
kill -0 $job 2>/dev/null || fail "job ended before the kill"

victim=$(cat "$scratch/rank1.pid")
start_ms=$(($(date +%s%N) / 1000000))
kill -KILL "$victim" || fail "could not kill rank 1 (pid $victim)"
while kill -0 $job 2>/dev/null; do
  if (($(date +%s%N) / 1000000 - start_ms > 90000)); then fail "job still running 90 s after rank 1 was killed"; fi
  sleep 0.1
done
wait $job
status=$?
trap - EXIT
elapsed_ms=$(($(date +%s%N) / 1000000 - start_ms))
echo "rt_comm_kill: rank 1 (pid $victim) killed; job ended with status $status after ${elapsed_ms} ms"
grep -q "no failure" "$scratch/job.log" && fail "the loop finished normally: the kill did not hit a running rank"
((status != 0)) || fail "job exited with status 0 after a rank was killed"
((elapsed_ms < 60000)) || fail "job took ${elapsed_ms} ms (>= 60 s) to end after the kill"
echo "rt_comm_kill: ok"

#!/usr/bin/env bash
# scripts/gpu_check rehearsed without a GPU: everything it calls that does not need one.
#  1. Without a usable GPU (none here; hidden by CUDA_VISIBLE_DEVICES=-1 on a GPU node) or with a
#     CPU-only torch it prints one line saying which and exits 2, writing nothing; a bad option is
#     one line and exit 2 too.
#  2. The CUDA test programs it runs (from its build's program list) exist, list the tests it
#     reports on, and without a GPU fail (never skip or pass) with a message saying why; their
#     GoogleTest report carries what gpu_check reads.
#  3. The PyTorch peer and the side-by-side comparison run on the CPU for a couple of steps
#     (Simple CNN and ResNet-20, the models gpu_check times) on the synthetic data set gpu_check
#     falls back to where Fashion-MNIST is absent, which batchlab also learns.
#  4. The report writer, on check folders made of real outputs from 2 and 3 and canned GPU ones:
#     pass/fail per check with its figure, gpu_check.json, exit status, one screen.
#   bash rt_gpu_check.sh BATCHLAB_BIN SOURCE_DIR SCRATCH_DIR
#   env: BATCHLAB_GPU_CHECK_PROGRAMS (the build's gpu_check_programs.env), BATCHLAB_TEST_REALTRAIN
set -u
bin=$1 src=$2 scratch=$3
py=/usr/bin/python3  # Debian's python3-torch (CPU)
fail() { echo "rt_gpu_check: FAIL: $*"; exit 1; }
rm -rf "$scratch" && mkdir -p "$scratch"
# No device for anything below, on any machine: the no-GPU paths are what this test checks.
export CUDA_VISIBLE_DEVICES=-1

# ---- 1. not a CUDA machine: one line, exit 2, nothing written --------------------------------
# one_line PATTERN ARGS...: scripts/gpu_check ARGS exits 2 with one line matching PATTERN.
one_line() {
  local pattern=$1; shift
  "$src/scripts/gpu_check" "$@" >"$scratch/out" 2>&1
  local status=$?
  ((status == 2)) || fail "gpu_check $*: exit $status, expected 2: $(head -5 "$scratch/out")"
  (($(wc -l <"$scratch/out") == 1)) || fail "gpu_check $*: expected one line, got: $(cat "$scratch/out")"
  grep -q -- "$pattern" "$scratch/out" || fail "gpu_check $*: '$(cat "$scratch/out")' lacks '$pattern'"
  [[ ! -e $scratch/report.json ]] || fail "gpu_check $*: wrote its report"
}
one_line "unknown option '--fast'" --fast
one_line "jobs: expected a positive integer, got 'x'" --jobs x
BATCHLAB_GPU_CHECK_CMAKE_ARGS="-DA=1 Ninja" one_line "BATCHLAB_GPU_CHECK_CMAKE_ARGS: 'Ninja' is not a CMake option"
one_line "'/nonexistent/python3' not found" --python /nonexistent/python3
# Here: "no CUDA GPU visible (nvidia-smi not found) and ..."; on a GPU node with a CUDA torch:
# "torch ... sees no GPU (torch.cuda.device_count() = 0) ...".
one_line "^gpu_check: .*GPU.*; nothing checked$" --json "$scratch/report.json"
one_line "^gpu_check: .*/usr/bin/python3 has torch 1.*, a CPU-only build (torch.version.cuda is None); nothing checked$" \
  --python "$py" --json "$scratch/report.json"

# ---- 2. the CUDA test programs ------------------------------------------------------------
progs=${BATCHLAB_GPU_CHECK_PROGRAMS:?set by ctest (tests/CMakeLists.txt)}
[[ -f $progs ]] || fail "$progs missing (configure writes it)"
parity=$(sed -n 's/^cuda_test_parity=//p' "$progs") nccl=$(sed -n 's/^cuda_test_nccl_comm=//p' "$progs")
[[ $(sed -n 's/^batchlab=//p' "$progs") == "$bin" ]] || fail "$progs names another batchlab than $bin"
[[ -x $parity ]] || fail "cuda_test_parity not built ($parity)"
"$parity" --gtest_list_tests >"$scratch/list" || fail "cuda_test_parity --gtest_list_tests"
for t in CudaParity. EveryRegisteredRuleMatchesEigenFloatAndDouble CudaTorchBackend. ReductionsAreAccumulatedInDouble; do
  grep -q "^ *$t\$" "$scratch/list" || fail "cuda_test_parity does not list $t: $(cat "$scratch/list")"
done
work=$scratch/work  # a gpu_check work dir, filled below
mkdir -p "$work/cuda_parity" "$work/nccl_comm" "$work/canned"
"$parity" --gtest_output="json:$work/cuda_parity/gtest.json" >"$work/cuda_parity/log" 2>&1
status=$?
((status == 1)) || fail "cuda_test_parity without a GPU: exit $status, expected 1"
grep -q "no CUDA device visible to LibTorch" "$work/cuda_parity/log" || fail "cuda_test_parity: no reason given"
grep -q "SKIPPED" "$work/cuda_parity/log" && fail "cuda_test_parity skipped a test"
echo "{\"rc\": $status, \"wall_s\": 0.5, \"limit_s\": 300}" >"$work/cuda_parity/status.json"
if [[ -n $nccl ]]; then
  "$nccl" --gtest_output="json:$work/nccl_comm/gtest.json" >"$work/nccl_comm/log" 2>&1
  status=$?
  ((status == 2)) || fail "cuda_test_nccl_comm without a GPU: exit $status, expected 2"
  (($(wc -l <"$work/nccl_comm/log") == 1)) || fail "cuda_test_nccl_comm: expected one line: $(cat "$work/nccl_comm/log")"
  grep -q "^cuda_test_nccl_comm: nccl backend: no CUDA device visible" "$work/nccl_comm/log" ||
    fail "cuda_test_nccl_comm: $(cat "$work/nccl_comm/log")"
  echo "{\"rc\": $status, \"wall_s\": 0.1, \"limit_s\": 300}" >"$work/nccl_comm/status.json"
fi
# The CPU parity test records the figures the CUDA one does (same harness): its real report,
# renamed to the CUDA test, stands for a passing GPU run.
"${BATCHLAB_TEST_REALTRAIN:?set by ctest}" --gtest_filter=TorchBackendParity.EveryRegisteredRuleMatchesEigenFloatAndDouble \
  --gtest_output="json:$work/canned/parity.json" >/dev/null || fail "the CPU parity test failed"

# ---- 3. the PyTorch peer and the comparison, on the CPU --------------------------------------
"$py" "$src/scripts/gpu_check.py" synthetic "$scratch/synthetic" || fail "gpu_check.py synthetic"
# A small one for the timed comparisons: each ends with an evaluation on the whole test set.
"$py" "$src/scripts/gpu_check.py" synthetic "$scratch/small" --train-size 2048 --test-size 256 ||
  fail "gpu_check.py synthetic (small)"
"$bin" train --data-dir "$scratch/synthetic" --model mlp --batch-size 128 --lr 0.05 --steps 400 --eval-every 400 \
  --target 0.8 --threads 1 --output "$scratch/syn_mlp" >/dev/null 2>&1 || fail "batchlab train on the synthetic data"
for model in simple-cnn resnet20; do
  "$py" "$src/experiments/bench/torch_peer_compare.py" --batchlab "$bin" --python "$py" --device cpu \
    --data-dir "$scratch/small" --model $model --batch-size 16 --steps 2 --repeats 1 --threads 1 --loader-threads 1 \
    --json "$work/canned/compare_$model.json" >"$scratch/compare_$model.log" 2>&1 ||
    fail "torch_peer_compare.py --model $model: $(tail -3 "$scratch/compare_$model.log")"
  grep -q "ratio *: [0-9.]*x" "$scratch/compare_$model.log" || fail "no ratio printed for $model"
done
"$py" "$src/experiments/bench/torch_peer_train.py" --data-dir "$scratch/small" --model resnet20 --device cpu \
  --batch-size 8 --steps 2 --eval-every 2 --threads 1 >"$scratch/peer_syn.json" || fail "peer on the synthetic data"
"$py" "$src/experiments/bench/torch_peer_train.py" --device cuda --steps 1 --threads 1 >/dev/null 2>"$scratch/peer_cuda" &&
  fail "the peer ran on --device cuda without a GPU"
grep -q "sees no CUDA device" "$scratch/peer_cuda" || fail "peer --device cuda: $(cat "$scratch/peer_cuda")"
"$py" - "$scratch" "$work/canned" <<'PY' || fail "peer / comparison / synthetic outputs"
import json, os, sys
scratch, canned = sys.argv[1:3]
s = json.load(open(os.path.join(scratch, "syn_mlp", "summary.json")))
assert s["status"] == "reached", ("batchlab did not learn the synthetic data", s["final_accuracy"])
p = json.loads(open(os.path.join(scratch, "peer_syn.json")).read().strip().splitlines()[-1])
assert p["model"] == "resnet20" and p["device"] == "cpu" and p["steps"] == 2 and p["img_per_s"] > 0, p
for model in ("simple-cnn", "resnet20"):
    c = json.load(open(os.path.join(canned, f"compare_{model}.json")))
    assert c["model"] == model and c["device"] == "cpu" and c["repeats"] == 1, c
    ours, peer = c["batchlab"]["img_per_s"], c["pytorch"]["img_per_s"]
    assert ours > 0 and peer > 0 and abs(c["ratio"] - ours / peer) < 1e-9, c
PY

# ---- 4. the report writer ---------------------------------------------------------------------
# A passing GPU run, canned where only a GPU could have produced it (environment, NCCL report,
# GPU training) and real elsewhere (parity figures' format, comparison JSON).
"$py" - "$work" "$scratch" <<'PY' || fail "building the work dir"
import json, os, shutil, sys
work, scratch = sys.argv[1:3]
def put(rel, obj):
    os.makedirs(os.path.dirname(os.path.join(work, rel)), exist_ok=True)
    with open(os.path.join(work, rel), "w") as f:
        f.write(obj if isinstance(obj, str) else json.dumps(obj))
ok = lambda wall: {"rc": 0, "wall_s": wall, "limit_s": 600}
put("env.json", {"host": "gpu-node", "torch": "2.11.0+cu130", "cuda": "13.0", "cudnn": 91300, "nccl_torch": "2.27.7",
                 "driver": "580.159.03", "gpu_count": 1, "started_utc": "2026-12-04T12:00:00Z",
                 "gpus": [{"name": "NVIDIA H200", "memory_gib": 139.8, "capability": "9.0"}]})
put("configure/status.json", ok(12.0)); put("configure/log", "-- Build files have been written to: build/cuda\n")
put("build/status.json", ok(140.2)); put("build/log", "[63/63] Linking CXX executable experiments/batchlab\n")
parity = json.load(open(os.path.join(work, "canned", "parity.json")))
parity["testsuites"][0]["name"] = "CudaParity"
put("pass/cuda_parity/gtest.json", parity); put("pass/cuda_parity/status.json", ok(1.5))
put("pass/nccl_comm/gtest.json", {"tests": 2, "failures": 0, "testsuites": [
    {"name": "NcclProcessGroup", "testsuite": [{"name": "OneRankPerGpu", "status": "RUN", "result": "COMPLETED",
                                                "ranks": "1", "nccl": "NCCL 2.27.7"}]},
    {"name": "NcclCommunicator", "testsuite": [{"name": "AsyncSumMatchesHandSum", "status": "RUN",
                                                "result": "COMPLETED"}]}]})
put("pass/nccl_comm/status.json", ok(3.2))
summary = json.load(open(os.path.join(scratch, "syn_mlp", "summary.json")))
summary["provenance"]["device"] = "cuda:0"
put("train/spec.json", {"dataset": "synthetic", "model": "mlp", "target": summary["target"], "max_steps": 400,
                        "batch_size": 128, "ranks": 1})
put("pass/train/out/summary.json", summary); put("pass/train/status.json", ok(20.0))
for model in ("simple-cnn", "resnet20"):
    put(f"throughput_{model}/compare.json", open(os.path.join(work, "canned", f"compare_{model}.json")).read())
    put(f"throughput_{model}/status.json", ok(30.0))
PY
# report DIR EXPECTED_STATUS: runs the writer on DIR; checks its exit status and screen.
report() {
  "$py" "$src/scripts/gpu_check.py" report "$1" --json "$1/gpu_check.json" --mode quick >"$1/screen" 2>&1
  local status=$?
  ((status == $2)) || fail "report on $1: exit $status, expected $2: $(cat "$1/screen")"
  (($(wc -l <"$1/screen") <= 24)) || fail "report on $1: more than one screen: $(cat "$1/screen")"
}
pass=$scratch/pass fails=$scratch/fails
cp -r "$work" "$pass" && cp -r "$pass/pass/." "$pass/" && rm -rf "$pass/pass" "$pass/canned"
report "$pass" 0
# Every way a check fails: the real no-GPU outputs of part 2, a GPU training that ran on the
# CPU, a comparison killed at its time limit, a check that could not start.
cp -r "$pass" "$fails"
rm -rf "$fails/cuda_parity" "$fails/nccl_comm"
cp -r "$work/cuda_parity" "$fails/"
[[ -f $work/nccl_comm/status.json ]] && cp -r "$work/nccl_comm" "$fails/"
"$py" - "$fails" <<'PY'
import json, os, sys
d = sys.argv[1]
s = json.load(open(f"{d}/train/out/summary.json")); s["provenance"]["device"] = "cpu"
json.dump(s, open(f"{d}/train/out/summary.json", "w"))
json.dump({"rc": 124, "wall_s": 240.0, "limit_s": 240}, open(f"{d}/throughput_resnet20/status.json", "w"))
open(f"{d}/throughput_resnet20/log", "w").write("killed\n")
os.remove(f"{d}/build/status.json"); json.dump({"why": "cmake configure failed"}, open(f"{d}/build/not_run.json", "w"))
PY
report "$fails" 1
"$py" - "$pass" "$fails" <<'PY' || fail "report contents: $(cat "$pass/screen" "$fails/screen")"
import json, sys
passed, failed = sys.argv[1], sys.argv[2]
p = json.load(open(f"{passed}/gpu_check.json"))
checks = {c["check"]: c for c in p["checks"]}
assert p["passed"] and p["mode"] == "quick" and p["environment"]["gpus"][0]["name"] == "NVIDIA H200", p
assert list(checks) == ["configure", "build", "cuda_parity", "nccl_comm", "train", "throughput_simple-cnn",
                        "throughput_resnet20"], list(checks)
assert all(c["result"] == "pass" for c in p["checks"]), p["checks"]
assert "max rel. dev." in checks["cuda_parity"]["figure"], checks["cuda_parity"]
assert float(checks["cuda_parity"]["detail"]["max_rel_dev_vs_float"]) < 2e-6, checks["cuda_parity"]
assert "1 rank(s), NCCL 2.27.7" in checks["nccl_comm"]["figure"], checks["nccl_comm"]
assert "synthetic mlp B=128 on 1 rank(s): test acc" in checks["train"]["figure"], checks["train"]
assert "(target 0.8) at step" in checks["train"]["figure"], checks["train"]
t = checks["throughput_resnet20"]["detail"]
assert t["ratio"] > 0 and t["goal"] == 1.2 and checks["throughput_resnet20"]["figure"].endswith("met)"), t
screen = open(f"{passed}/screen").read()
assert "GPU: 1 x NVIDIA H200 (139.8 GiB) | driver 580.159.03 | CUDA 13.0" in screen, screen
assert "7/7 checks passed" in screen, screen
assert checks["build"]["figure"] == "[63/63] Linking CXX executable experiments/batchlab", checks["build"]
f = {c["check"]: c for c in json.load(open(f"{failed}/gpu_check.json"))["checks"]}
assert f["build"]["result"] == "not_run" and f["build"]["figure"] == "cmake configure failed", f["build"]
assert f["train"]["result"] == "fail" and "ran on cpu, not a GPU" in f["train"]["figure"], f["train"]
assert f["throughput_resnet20"]["result"] == "fail" and "timed out after 240 s" in f["throughput_resnet20"]["figure"]
assert f["throughput_resnet20"]["log_tail"] == ["killed"], f["throughput_resnet20"]
assert f["throughput_simple-cnn"]["result"] == "pass"
# The real no-GPU outputs of part 2.
assert f["cuda_parity"]["result"] == "fail" and f["cuda_parity"]["figure"].startswith("0/3 tests passed"), f
assert "first failure: CudaParity.EveryRegisteredRuleMatchesEigenFloatAndDouble: no CUDA device visible to " \
       "LibTorch" in f["cuda_parity"]["figure"], f["cuda_parity"]
if "nccl_comm" in f:
    assert f["nccl_comm"]["result"] == "fail" and "no test report" in f["nccl_comm"]["figure"], f["nccl_comm"]
    assert "no CUDA device visible" in f["nccl_comm"]["log_tail"][-1], f["nccl_comm"]
PY
echo "rt_gpu_check: ok: $(head -1 "$pass/screen"); $(tail -1 "$fails/screen")"

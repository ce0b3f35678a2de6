#!/usr/bin/env python3
"""The Python half of scripts/gpu_check (which runs the checks; this file decides and tells).

  gpu_check.py probe                  is this a CUDA machine with a CUDA PyTorch? Prints the
                                      environment as JSON, or one line on stderr and exits 2
  gpu_check.py synthetic DIR [--train-size N --test-size M]
                                      writes a Fashion-MNIST-shaped idx.gz data set (10 classes,
                                      28x28, 60k/10k) for machines without the real one
  gpu_check.py report WORKDIR --json OUT
                                      reads what each check left in WORKDIR/<check>/, prints the
                                      one-screen report, writes OUT; exit 0 if every check passed

Only `synthetic` needs torch; `probe` imports it to ask about CUDA; `report` is standard library
alone, so CI tests it on canned and CPU-produced check outputs (tests/cli/rt_gpu_check.sh).

A check's folder holds status.json ({"rc", "wall_s", "limit_s"}, written by scripts/gpu_check
when the command ends; rc 124 = killed at its time limit), log (its stdout and stderr) and the
check's own outputs (GoogleTest JSON, summary.json, the throughput comparison JSON).
"""
import argparse
import datetime
import gzip
import json
import math
import os
import platform
import re
import shutil
import struct
import subprocess
import sys

# The checks in report order: name -> what it shows (the report's legend).
CHECKS = {
    "configure": "cmake against this PyTorch's LibTorch (build/cuda, Ninja)",
    "build": "batchlab + the CUDA test programs, all cores",
    "cuda_parity": "every optim rule, torch CUDA vs Eigen float/double (tests/cuda/test_parity.cpp)",
    "nccl_comm": "NCCL communicator + bucketed all-reduce, one rank per GPU (tests/cuda/test_nccl_comm.cpp)",
    "data": "a synthetic Fashion-MNIST-shaped data set (the real one is not on this machine)",
    "train": "batchlab train --backend nccl to a stated test accuracy",
    "throughput_simple-cnn": "Simple CNN img/s, batchlab vs PyTorch on this GPU",
    "throughput_resnet20": "ResNet-20 img/s, batchlab vs PyTorch on this GPU",
}
THROUGHPUT_GOAL = 1.2  # docs/architecture.md#performance-goals: >= 1.2x PyTorch's img/s, same model and machine


# --------------------------------------------------------------------------------------------
# probe
# --------------------------------------------------------------------------------------------
def nvidia_smi(query):
    """Rows of `nvidia-smi --query-gpu=QUERY`, or None when nvidia-smi is absent or fails."""
    exe = shutil.which("nvidia-smi")
    if exe is None:
        return None
    try:
        r = subprocess.run([exe, f"--query-gpu={query}", "--format=csv,noheader,nounits"],
                           capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if r.returncode != 0:
        return None
    return [[c.strip() for c in line.split(",")] for line in r.stdout.splitlines() if line.strip()]


def no_gpu_reason():
    """Why no GPU is visible (None when nvidia-smi lists at least one)."""
    if shutil.which("nvidia-smi") is None:
        return "no CUDA GPU visible (nvidia-smi not found)"
    rows = nvidia_smi("name")
    if rows is None:
        return "no CUDA GPU visible (nvidia-smi failed: no driver or no device)"
    if not rows:
        return "no CUDA GPU visible (nvidia-smi lists none)"
    return None


def torch_reason():
    """(torch module or None, why it cannot be used: None when it is a CUDA build)."""
    try:
        import torch
    except Exception as e:  # ImportError, or a broken install that fails while importing
        return None, f"no PyTorch in {sys.executable} (import torch: {e})"
    if torch.version.cuda is None:
        return torch, f"{sys.executable} has torch {torch.__version__}, a CPU-only build (torch.version.cuda is None)"
    return torch, None


def nccl_package_paths():
    """The NCCL that a pip CUDA PyTorch loads (package nvidia-nccl-*), so that batchlab links the
    same library as the torch in its process; {} when torch brings none of its own."""
    try:
        import nvidia.nccl as pkg
    except ImportError:
        return {}
    for root in getattr(pkg, "__path__", []):
        inc, lib = os.path.join(root, "include"), os.path.join(root, "lib")
        libs = sorted(f for f in os.listdir(lib) if f.startswith("libnccl.so")) if os.path.isdir(lib) else []
        if os.path.exists(os.path.join(inc, "nccl.h")) and libs:
            return {"nccl_include_dir": inc, "nccl_library": os.path.join(lib, libs[0])}
    return {}


def probe():
    gpu_why = no_gpu_reason()
    torch, torch_why = torch_reason()
    if gpu_why or torch_why:
        print("gpu_check: " + " and ".join(w for w in (gpu_why, torch_why) if w) + "; nothing checked",
              file=sys.stderr)
        return 2
    count = torch.cuda.device_count()
    if count == 0:
        print(f"gpu_check: torch {torch.__version__} (CUDA {torch.version.cuda}) sees no GPU "
              f"(torch.cuda.device_count() = 0) although nvidia-smi lists one; nothing checked", file=sys.stderr)
        return 2
    smi = nvidia_smi("driver_version") or [["?"]]
    props = [torch.cuda.get_device_properties(i) for i in range(count)]
    nccl = None
    try:
        v = torch.cuda.nccl.version()
        nccl = ".".join(map(str, v)) if isinstance(v, tuple) else str(v)
    except Exception:  # a torch built without NCCL
        pass
    env = {
        "host": platform.node(),
        "python": sys.executable,
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "cudnn": torch.backends.cudnn.version(),
        "nccl_torch": nccl,
        "driver": smi[0][0],
        "gpu_count": count,
        "gpus": [{"name": p.name, "memory_gib": round(p.total_memory / 2**30, 1),
                  "capability": f"{p.major}.{p.minor}"} for p in props],
        "cmake_prefix_path": torch.utils.cmake_prefix_path,
        "cpu_count": os.cpu_count(),
        "started_utc": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    env.update(nccl_package_paths())
    print(json.dumps(env, indent=1))
    return 0


# --------------------------------------------------------------------------------------------
# synthetic data
# --------------------------------------------------------------------------------------------
def tensor_bytes(t):
    t = t.contiguous().flatten()
    try:
        return t.numpy().tobytes()
    except (ImportError, RuntimeError):  # a torch without numpy
        return bytes(t.tolist())


def write_idx_gz(path, tensor):
    """uint8 tensor -> idx file (magic 0x0000 08 <ndim>, big-endian sizes), gzip-compressed."""
    header = struct.pack(">BBBB", 0, 0, 8, tensor.dim()) + b"".join(struct.pack(">I", s) for s in tensor.shape)
    with gzip.GzipFile(path + ".tmp", "wb", compresslevel=1, mtime=0) as f:  # same bytes every time
        f.write(header)
        f.write(tensor_bytes(tensor))
    os.replace(path + ".tmp", path)


def synthetic_split(torch, protos, n, gen):
    """n images: a class prototype shifted by up to 3 pixels, contrast 0.6-1.2, Gaussian pixel
    noise (sd 0.6 of the full scale), clipped: about as hard as Fashion-MNIST for these models
    (measured on the CPU, B = 128, lr 0.05, momentum 0.9: the MLP at 0.89 test accuracy after
    1000 steps, the Simple CNN at 0.908 after 300)."""
    labels = torch.randint(0, 10, (n,), generator=gen)
    imgs = protos[labels].clone()
    shifts = torch.randint(-3, 4, (n, 2), generator=gen)
    for dy in range(-3, 4):
        for dx in range(-3, 4):
            sel = ((shifts[:, 0] == dy) & (shifts[:, 1] == dx)).nonzero().flatten()
            if len(sel):
                imgs[sel] = torch.roll(imgs[sel], shifts=(dy, dx), dims=(1, 2))
    contrast = 0.6 + 0.6 * torch.rand((n, 1, 1), generator=gen)
    imgs = imgs * contrast + 0.6 * torch.randn(imgs.shape, generator=gen)
    return (imgs.clamp(0, 1) * 255).round().to(torch.uint8), labels.to(torch.uint8)


def synthetic(out_dir, seed=0, train_size=60000, test_size=10000):
    """Writes train-/t10k-{images-idx3,labels-idx1}-ubyte.gz into out_dir (the Fashion-MNIST file
    names, so `batchlab train --dataset fashion-mnist --data-dir out_dir` reads it)."""
    import torch
    gen = torch.Generator().manual_seed(seed)
    yy, xx = torch.meshgrid(torch.arange(28.0), torch.arange(28.0), indexing="ij")
    protos = torch.zeros(10, 28, 28)
    for c in range(10):  # six soft blobs per class at random places, sizes and strengths
        for _ in range(6):
            cy, cx = (6 + 16 * torch.rand(2, generator=gen)).tolist()
            sd = float(1.5 + 2.5 * torch.rand(1, generator=gen))
            amp = float(0.5 + 0.5 * torch.rand(1, generator=gen))
            protos[c] += amp * torch.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * sd * sd))
        protos[c] /= protos[c].max()
    os.makedirs(out_dir, exist_ok=True)
    for prefix, n in (("train", train_size), ("t10k", test_size)):
        imgs, labels = synthetic_split(torch, protos, n, gen)
        write_idx_gz(os.path.join(out_dir, f"{prefix}-images-idx3-ubyte.gz"), imgs)
        write_idx_gz(os.path.join(out_dir, f"{prefix}-labels-idx1-ubyte.gz"), labels)
    return 0


# --------------------------------------------------------------------------------------------
# report
# --------------------------------------------------------------------------------------------
def read_json(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


# Lines of a log that say nothing about why a check failed: mpirun's banner after a rank exits
# non-zero, and indented lines (its details, Python traceback frames).
NOISE = re.compile(r"^(-{5,}|\s|Primary job|a non-zero exit code|mpirun (detected|noticed)|the job to be terminated|"
                   r"Traceback \(most recent call last\))")


def log_tail(check_dir, lines=3):
    """The last telling lines of a check's log (noise dropped, a line every rank printed once)."""
    try:
        with open(os.path.join(check_dir, "log"), errors="replace") as f:
            text = [line.rstrip() for line in f if line.strip() and not NOISE.match(line)]
    except OSError:
        return []
    text = text[-200:]
    kept = [line for i, line in enumerate(text) if line not in text[i + 1:]]
    return [line[:160] for line in kept[-lines:]]


def gtest_summary(doc):
    """(tests, failures, properties of each test, the first failure's last line) from a
    GoogleTest --gtest_output=json report."""
    tests = failures = 0
    props, first = {}, None
    for suite in (doc or {}).get("testsuites", []):
        for case in suite.get("testsuite", []):
            tests += 1
            name = f"{suite.get('name')}.{case.get('name')}"
            # A skipped test did not check anything: it counts against the check, like a failure.
            if case.get("failures") or case.get("result") == "SKIPPED":
                failures += 1
                text = (case.get("failures") or [{}])[0].get("failure", "skipped")
                first = first or f"{name}: {[l for l in text.splitlines() if l.strip()][-1].strip()}"
            known = {"name", "status", "result", "timestamp", "time", "classname", "failures", "file", "line"}
            props[name] = {k: v for k, v in case.items() if k not in known}
    return tests, failures, props, first


def judge_gtest(d, status, what):
    """pass/fail and figure of a GoogleTest program's check."""
    doc = read_json(os.path.join(d, "gtest.json"))
    tests, failures, props, first = gtest_summary(doc)
    if doc is None or tests == 0:
        return "fail", f"no test report ({what} did not run its tests)", {}
    ok = status["rc"] == 0 and failures == 0
    figure = f"{tests - failures}/{tests} tests passed" + (f"; first failure: {first}" if first else "")
    return ("pass" if ok else "fail"), figure, props


def judge_cuda_parity(d, status):
    result, figure, props = judge_gtest(d, status, "cuda_test_parity")
    p = props.get("CudaParity.EveryRegisteredRuleMatchesEigenFloatAndDouble", {})
    detail = {"tests": figure}
    if "max_rel_dev_vs_double" in p:
        detail.update({k: p[k] for k in ("settings", "max_rel_dev_vs_float", "max_rel_dev_vs_double")})
        figure += (f"; {p['settings']} rule settings, max rel. dev. {p['max_rel_dev_vs_float']} (float), "
                   f"{p['max_rel_dev_vs_double']} (double); bounds 2e-6, 2e-5")
    return result, figure, detail


def judge_nccl(d, status):
    result, figure, props = judge_gtest(d, status, "cuda_test_nccl_comm")
    p = props.get("NcclProcessGroup.OneRankPerGpu", {})
    detail = {"tests": figure}
    if "ranks" in p:
        detail.update({"ranks": p["ranks"], "nccl": p.get("nccl")})
        figure += f" on {p['ranks']} rank(s), {p.get('nccl')}"
    return result, figure, detail


def judge_train(d, status):
    """Passes when batchlab reached the stated test accuracy (the run stops there) on a GPU."""
    spec = read_json(os.path.join(d, "spec.json")) or {}
    s = read_json(os.path.join(d, "out", "summary.json"))
    if s is None:
        return "fail", "no summary.json (batchlab train did not finish)", {"spec": spec}
    cfg = s.get("config", {})
    detail = {k: s.get(k) for k in ("status", "steps", "steps_to_target", "target", "final_accuracy", "img_per_s",
                                    "wall_s")}
    detail.update(dataset=spec.get("dataset"), model=cfg.get("model"), batch_size=cfg.get("batch-size"),
                  ranks=s.get("provenance", {}).get("ranks"), device=s.get("provenance", {}).get("device"))
    figure = (f"{detail['dataset']} {detail['model']} B={detail['batch_size']} on {detail['ranks']} rank(s): "
              f"test acc {s.get('final_accuracy'):.4f} (target {s.get('target')}) ")
    if s.get("status") == "reached":
        figure += f"at step {s.get('steps_to_target')}, {s.get('wall_s', 0):.1f} s training"
    else:
        figure += f"not reached in {s.get('steps')} steps"
    if not str(detail["device"]).startswith("cuda"):
        figure += f"; ran on {detail['device']}, not a GPU"
    ok = (status["rc"] == 0 and s.get("status") == "reached" and s.get("target") == spec.get("target")
          and str(detail["device"]).startswith("cuda"))
    return ("pass" if ok else "fail"), figure, detail


def judge_throughput(d, status):
    c = read_json(os.path.join(d, "compare.json"))
    if c is None:
        return "fail", "no comparison (see log)", {}
    ours, peer, ratio = c["batchlab"]["img_per_s"], c["pytorch"]["img_per_s"], c.get("ratio")
    finite = all(isinstance(v, (int, float)) and math.isfinite(v) and v > 0 for v in (ours, peer))
    detail = {"batchlab_img_per_s": ours, "pytorch_img_per_s": peer, "ratio": ratio, "goal": THROUGHPUT_GOAL,
              "goal_met": bool(finite and ratio >= THROUGHPUT_GOAL), "batch_size": c.get("batch_size"),
              "steps": c.get("steps"), "repeats": c.get("repeats"), "torch": c.get("torch")}
    if not finite:
        return "fail", f"img/s not measured (batchlab {ours}, PyTorch {peer})", detail
    figure = (f"B={c.get('batch_size')}: batchlab {ours:,.0f} vs PyTorch {peer:,.0f} img/s = {ratio:.2f}x "
              f"(goal >= {THROUGHPUT_GOAL}: {'met' if detail['goal_met'] else 'not met'})")
    return ("pass" if status["rc"] == 0 else "fail"), figure, detail


def judge_plain(d, status):
    """A step judged by its exit status alone; its figure is the last line it printed."""
    last = log_tail(d, 1)
    return ("pass" if status["rc"] == 0 else "fail"), (last[0] if last else "(no output)"), {}


JUDGES = {"cuda_parity": judge_cuda_parity, "nccl_comm": judge_nccl, "train": judge_train}


def judge(workdir, name):
    """One check's record: status pass | fail | not_run, its figure, details, time."""
    d = os.path.join(workdir, name)
    status = read_json(os.path.join(d, "status.json"))
    rec = {"check": name, "what": CHECKS.get(name, name)}
    if status is None:
        reason = read_json(os.path.join(d, "not_run.json")) or {}
        rec.update(result="not_run", figure=reason.get("why", "not run"))
        return rec
    judge_fn = judge_throughput if name.startswith("throughput_") else JUDGES.get(name, judge_plain)
    result, figure, detail = judge_fn(d, status)
    if status["rc"] == 124 or status["rc"] == 137:
        result, figure = "fail", f"timed out after {status['limit_s']} s; " + figure
    rec.update(result=result, figure=figure, detail=detail, rc=status["rc"], wall_s=round(status["wall_s"], 1),
               limit_s=status["limit_s"])
    if result != "pass":
        rec["log_tail"] = log_tail(d)
    return rec


def check_names(workdir):
    """The known checks in report order, then any other check folder (a new throughput model)."""
    present = [n for n in sorted(os.listdir(workdir)) if os.path.isdir(os.path.join(workdir, n))]
    return [n for n in CHECKS if n in present] + [n for n in present if n not in CHECKS]


def environment_line(env):
    gpus = env.get("gpus") or []
    names = sorted({g["name"] for g in gpus})
    mem = gpus[0]["memory_gib"] if gpus else "?"
    return (f"GPU: {env.get('gpu_count', len(gpus))} x {', '.join(names) or '?'} ({mem} GiB) | driver "
            f"{env.get('driver')} | CUDA {env.get('cuda')} | torch {env.get('torch')} | cuDNN {env.get('cudnn')} "
            f"| NCCL {env.get('nccl_torch')} (torch)")


def render(doc):
    """The one-screen report."""
    lines = [f"batchlab gpu_check ({doc['mode']}) on {doc['environment'].get('host')}, "
             f"started {doc['environment'].get('started_utc')}",
             environment_line(doc["environment"]), ""]
    lines.append(f"{'check':<22} {'result':<8} {'time':>13}  figure")
    for r in doc["checks"]:
        t = f"{r['wall_s']:.0f}/{r['limit_s']} s" if "wall_s" in r else "-"
        lines.append(f"{r['check']:<22} {r['result'].upper():<8} {t:>13}  {r['figure']}")
        for tail in r.get("log_tail", []):
            lines.append(f"{'':<22} {'':<8} {'':>13}  | {tail}")
    passed = sum(r["result"] == "pass" for r in doc["checks"])
    lines += ["", f"{passed}/{len(doc['checks'])} checks passed -> {doc['json']}"]
    return "\n".join(lines)


def report(workdir, json_path, mode):
    env = read_json(os.path.join(workdir, "env.json")) or {}
    checks = [judge(workdir, n) for n in check_names(workdir)]
    doc = {"mode": mode, "environment": env, "checks": checks,
           "passed": bool(checks) and all(r["result"] == "pass" for r in checks), "json": json_path}
    with open(json_path + ".tmp", "w") as f:
        json.dump(doc, f, indent=1)
    os.replace(json_path + ".tmp", json_path)
    print(render(doc))
    return 0 if doc["passed"] else 1


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    sub.add_parser("probe")
    s = sub.add_parser("synthetic")
    s.add_argument("dir")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--train-size", type=int, default=60000)
    s.add_argument("--test-size", type=int, default=10000)
    r = sub.add_parser("report")
    r.add_argument("workdir")
    r.add_argument("--json", required=True)
    r.add_argument("--mode", default="full", choices=["full", "quick"])
    a = p.parse_args()
    if a.cmd == "probe":
        return probe()
    if a.cmd == "synthetic":
        if a.train_size < 1 or a.test_size < 1:
            p.error(f"synthetic: sizes must be positive, got --train-size {a.train_size} --test-size {a.test_size}")
        return synthetic(a.dir, a.seed, a.train_size, a.test_size)
    if not os.path.isdir(a.workdir):
        print(f"gpu_check.py report: {a.workdir}: not a directory", file=sys.stderr)
        return 2
    return report(a.workdir, a.json, a.mode)


if __name__ == "__main__":
    sys.exit(main())

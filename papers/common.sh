# Sourced by papers/*/run.sh. Finds or builds the batchlab binary, times the run, and calls the
# paper's report.py, which writes the README's numbers from the results (never by hand).
#
#   BATCHLAB_BIN=/path/to/batchlab  use this binary instead of building one
#   --quick                         the paper's reduced grid (results_quick/)
set -euo pipefail

PAPERS_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(dirname "$PAPERS_DIR")"
PY=/usr/bin/python3  # Debian python3 has numpy + matplotlib (the pyenv one on PATH does not)

QUICK=0
for arg in "$@"; do
  case "$arg" in
    --quick) QUICK=1 ;;
    -h|--help) echo "usage: $0 [--quick]"; exit 0 ;;
    *) echo "$0: unknown argument '$arg' (usage: $0 [--quick])" >&2; exit 2 ;;
  esac
done

# The binary: $BATCHLAB_BIN, else build/papers/<flavour>/experiments/batchlab, built on demand.
# flavour "sim" needs no LibTorch; "rt" builds the trainer (batchlab train / study).
batchlab_bin() {
  local flavour="${1:-sim}"
  if [[ -n "${BATCHLAB_BIN:-}" ]]; then
    [[ -x "$BATCHLAB_BIN" ]] || { echo "BATCHLAB_BIN='$BATCHLAB_BIN' is not executable" >&2; exit 2; }
    echo "$BATCHLAB_BIN"; return
  fi
  local dir="$REPO/build/papers/$flavour" rt=OFF
  [[ "$flavour" == rt ]] && rt=ON
  if [[ ! -f "$dir/build.ninja" ]]; then
    cmake -S "$REPO" -B "$dir" -G Ninja -DBATCHLAB_WERROR=ON -DBATCHLAB_BUILD_TESTS=OFF \
      -DBATCHLAB_BUILD_REALTRAIN=$rt >&2
  fi
  cmake --build "$dir" --target batchlab -j2 >&2
  echo "$dir/experiments/batchlab"
}

# Wall-clock of the whole run, measured here and written for report.py.
RUN_START_S=$(date +%s.%N)
write_timing() {  # write_timing RESULTS_DIR
  local end_s; end_s=$(date +%s.%N)
  mkdir -p "$1"
  "$PY" - "$1" "$RUN_START_S" "$end_s" "$QUICK" <<'PYEOF'
import json, os, platform, sys
d, t0, t1, quick = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), sys.argv[4] == "1"
with open(os.path.join(d, "timing.json"), "w") as f:
    json.dump({"wall_s": t1 - t0, "quick": quick, "host": platform.node(),
               "cpus": os.cpu_count(), "load_avg_1min": os.getloadavg()[0]}, f, indent=1)
PYEOF
}

# Shared precondition of the Slurm CLI tests; sourced, not run (tests/CMakeLists.txt registers
# every other tests/cli/*.sh as a test). Needs SRC (the source dir). Sets and exports SLURM_CONF
# (as given, else scripts/slurm-local's); when no Slurm answers there the test cannot check
# anything, so it exits with ctest's skip code 77: scripts/test starts a local Slurm and fails on
# any skipped test.
[[ -n ${SLURM_CONF:-} ]] || eval "$("$SRC/scripts/slurm-local" env)"
export SLURM_CONF
if ! sinfo >/dev/null 2>&1; then
  echo "$(basename "$0" .sh): SKIP: no Slurm at SLURM_CONF=$SLURM_CONF (scripts/slurm-local start)"
  exit 77
fi

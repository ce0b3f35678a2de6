# Shared precondition of the CLI tests that train on Fashion-MNIST; sourced, not run
# (tests/CMakeLists.txt registers every other tests/cli/*.sh as a test):
#   source "$(dirname "${BASH_SOURCE[0]}")/lib_fmnist.sh"
# sets FMNIST to the dataset dir: $BATCHLAB_FMNIST_DIR, else where scripts/setup's Debian package
# puts it. When it is missing the test cannot check anything, so it exits with ctest's skip code
# (77, SKIP_RETURN_CODE in tests/CMakeLists.txt) instead of passing: ctest then lists it as
# skipped, and scripts/test fails on any skipped test, since setup should have installed it.
FMNIST=${BATCHLAB_FMNIST_DIR:-/usr/share/datasets/fashion-mnist}
if [[ ! -d $FMNIST ]]; then
  echo "$(basename "$0" .sh): SKIP: no Fashion-MNIST at $FMNIST (scripts/setup installs dataset-fashion-mnist)"
  exit 77
fi

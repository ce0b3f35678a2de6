#!/usr/bin/env bash
# scripts/gpu_check_bundle: the folder it makes must stand in for the installed packages on a
# machine that has none of them, wherever the folder is moved. Checked here by moving it after
# building it, then, with only its env.sh:
#  1. a CMake project finds every dependency batchlab's CMakeLists ask for in the folder, with
#     imported targets that point into it (a config with this machine's paths baked in would
#     point at /usr), and compiles against its headers only (the compiler's dependency list);
#  2. the program built from it (GoogleTest + Boost.Program_options + Eigen + nlohmann-json +
#     libjpeg-turbo + zlib + MPI) loads the folder's libraries and passes, as an MPI singleton
#     (how scripts/gpu_check runs one GPU) and under the folder's mpirun with 2 ranks;
#  3. bad usage is one line and exit status 2; the folder fits what a GPU run may carry.
#   bash gpu_check_bundle.sh BATCHLAB_BIN SOURCE_DIR SCRATCH_DIR
set -u
src=$2 scratch=$3
fail() { echo "gpu_check_bundle: FAIL: $*"; exit 1; }
rm -rf "$scratch" && mkdir -p "$scratch"

# ---- 3. bad usage; then the bundle, built in one place and moved to another -----------------
"$src/scripts/gpu_check_bundle" >"$scratch/out" 2>&1
(($? == 2)) && (($(wc -l <"$scratch/out") == 1)) || fail "no DIR: $(cat "$scratch/out")"
mkdir -p "$scratch/full" && touch "$scratch/full/x"
"$src/scripts/gpu_check_bundle" "$scratch/full" >"$scratch/out" 2>&1
(($? == 2)) && grep -q "not empty" "$scratch/out" || fail "non-empty DIR: $(cat "$scratch/out")"
"$src/scripts/gpu_check_bundle" "$scratch/made" >"$scratch/out" 2>&1
status=$?
if ((status == 2)) && grep -q "is not installed here" "$scratch/out"; then
  cat "$scratch/out"
  exit 77  # scripts/setup installs these packages: a broken setup, reported as skipped
fi
((status == 0)) || fail "exit $status: $(cat "$scratch/out")"
mv "$scratch/made" "$scratch/deps" || fail "cannot move the bundle"
b=$scratch/deps
size_mb=$(du -sm "$b" | cut -f1)
((size_mb < 56)) || fail "$size_mb MB: more than a GPU run may carry beside the repository"

# ---- 1. a CMake project finding everything in the moved folder -------------------------------
proj=$scratch/proj
mkdir -p "$proj"
cat >"$proj/CMakeLists.txt" <<'EOF'
cmake_minimum_required(VERSION 3.25)
project(bundle_probe LANGUAGES CXX)
set(CMAKE_CXX_STANDARD 20)
find_package(Eigen3 3.3 REQUIRED NO_MODULE)
find_package(GTest REQUIRED)
find_package(Boost 1.74 REQUIRED COMPONENTS program_options)
find_package(nlohmann_json 3 REQUIRED)
find_package(MPI REQUIRED COMPONENTS CXX)
find_package(ZLIB REQUIRED)
find_library(TURBOJPEG_LIBRARY NAMES turbojpeg REQUIRED)
find_path(TURBOJPEG_INCLUDE_DIR turbojpeg.h REQUIRED)
add_executable(probe probe.cpp)
target_include_directories(probe PRIVATE ${TURBOJPEG_INCLUDE_DIR})
target_link_libraries(probe PRIVATE Eigen3::Eigen GTest::gtest Boost::program_options nlohmann_json::nlohmann_json
                      MPI::MPI_CXX ZLIB::ZLIB ${TURBOJPEG_LIBRARY})
# Where each imported target points: checked against the bundle by the test.
set(where "${TURBOJPEG_LIBRARY}\n${TURBOJPEG_INCLUDE_DIR}\n")
foreach(t Eigen3::Eigen GTest::gtest Boost::program_options Boost::headers nlohmann_json::nlohmann_json ZLIB::ZLIB)
  foreach(p INTERFACE_INCLUDE_DIRECTORIES IMPORTED_LOCATION IMPORTED_LOCATION_NONE IMPORTED_LOCATION_RELEASE)
    get_target_property(v ${t} ${p})
    if(v)
      string(APPEND where "${v}\n")
    endif()
  endforeach()
endforeach()
string(APPEND where "${MPI_CXX_INCLUDE_DIRS}\n${MPI_CXX_LIBRARIES}\n${MPIEXEC_EXECUTABLE}\n")
string(REPLACE ";" "\n" where "${where}")
file(WRITE ${CMAKE_BINARY_DIR}/where.txt "${where}")
EOF
cat >"$proj/probe.cpp" <<'EOF'
// Uses one thing from each library, so that each must be found, compiled against and loaded.
#include <Eigen/Dense>
#include <boost/program_options.hpp>
#include <gtest/gtest.h>
#include <mpi.h>
#include <nlohmann/json.hpp>
#include <turbojpeg.h>
#include <zlib.h>

#include <cstring>

TEST(Bundle, EachLibraryWorks) {
  Eigen::Matrix2d m;
  m << 2, 0, 0, 4;
  EXPECT_DOUBLE_EQ(m.inverse()(1, 1), 0.25);
  namespace po = boost::program_options;
  po::options_description d;
  d.add_options()("n", po::value<int>());
  const char* argv[] = {"probe", "--n", "7"};
  po::variables_map vm;
  po::store(po::parse_command_line(3, argv, d), vm);
  EXPECT_EQ(vm["n"].as<int>(), 7);
  EXPECT_EQ(nlohmann::json::parse(R"({"a": [1, 2]})")["a"][1], 2);
  tjhandle h = tjInitCompress();
  EXPECT_NE(h, nullptr);
  tjDestroy(h);
  const char text[] = "batchlab";
  EXPECT_EQ(crc32(0L, reinterpret_cast<const Bytef*>(text), std::strlen(text)), 0xf409ca8eUL);
  int ranks = 0, sum = 0, one = 1;
  MPI_Comm_size(MPI_COMM_WORLD, &ranks);
  MPI_Allreduce(&one, &sum, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
  EXPECT_EQ(sum, ranks);
}

int main(int argc, char** argv) {
  int provided = 0;
  MPI_Init_thread(&argc, &argv, MPI_THREAD_MULTIPLE, &provided);
  ::testing::InitGoogleTest(&argc, argv);
  int failed = RUN_ALL_TESTS();
  MPI_Finalize();
  return failed;
}
EOF
(
  # shellcheck disable=SC1091
  source "$b/env.sh" || exit 1
  [[ $(command -v mpirun) == "$b/bin/mpirun" ]] || { echo "mpirun on PATH is $(command -v mpirun)"; exit 1; }
  # shellcheck disable=SC2086 # the variable holds several arguments, as scripts/gpu_check reads it
  cmake -S "$proj" -B "$proj/build" -G Ninja $BATCHLAB_GPU_CHECK_CMAKE_ARGS >"$proj/configure.log" 2>&1 ||
    { tail -20 "$proj/configure.log"; exit 1; }
  cmake --build "$proj/build" >"$proj/build.log" 2>&1 || { tail -20 "$proj/build.log"; exit 1; }
) || fail "configure/build against the bundle"
while read -r p; do
  [[ -z $p || $p == "$b"* ]] || fail "a dependency found outside the bundle: $p"
done <"$proj/build/where.txt"
(($(grep -c "^$b" "$proj/build/where.txt") >= 10)) || fail "too few paths recorded: $(cat "$proj/build/where.txt")"
# The headers the compiler read: the bundle's, never this machine's copies of the same packages.
(cd "$proj/build" && ninja -t deps) >"$scratch/deps.txt"
grep -q "^ *$b/include/boost/program_options.hpp" "$scratch/deps.txt" || fail "Boost headers not from the bundle"
grep -E "^ */usr/include/(boost|eigen3|gtest|nlohmann|turbojpeg\.h|zlib\.h)|^ */usr/lib/x86_64-linux-gnu/openmpi" \
  "$scratch/deps.txt" && fail "headers read from this machine's packages (above)"

# ---- 2. the program runs on the bundle's libraries -------------------------------------------
(
  source "$b/env.sh" || exit 1
  ldd "$proj/build/probe" >"$scratch/ldd.txt"
  for l in libmpi.so.40 libboost_program_options.so.1.74.0 libturbojpeg.so.0 libopen-pal.so.40; do
    grep -q "$l => $b/" "$scratch/ldd.txt" || { echo "$l: $(grep "$l" "$scratch/ldd.txt")"; exit 1; }
  done
  "$proj/build/probe" >"$scratch/singleton.log" 2>&1 || { echo "singleton:"; cat "$scratch/singleton.log"; exit 1; }
  root=()
  [[ $(id -u) == 0 ]] && root=(--allow-run-as-root)
  timeout 120 mpirun -np 2 --oversubscribe "${root[@]}" "$proj/build/probe" --gtest_color=no >"$scratch/mpirun.log" 2>&1 ||
    { echo "mpirun -np 2:"; tail -20 "$scratch/mpirun.log"; exit 1; }
  (($(grep -c "\[  PASSED  \] 1 test" "$scratch/mpirun.log") == 2)) || { cat "$scratch/mpirun.log"; exit 1; }
) || fail "running on the bundle's libraries"
echo "gpu_check_bundle: ok ($size_mb MB)"

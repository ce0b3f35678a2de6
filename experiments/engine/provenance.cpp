#include "experiments/engine/provenance.h"

#include <unistd.h>

#include <array>
#include <cstdio>
#include <ctime>

#include <Eigen/Core>
#include <boost/version.hpp>

#ifndef BATCHLAB_SOURCE_DIR
#define BATCHLAB_SOURCE_DIR ""
#endif
#ifndef BATCHLAB_VERSION
#define BATCHLAB_VERSION "unknown"
#endif

namespace batchlab::experiments {
namespace {

std::string run(const std::string& cmd) {
  std::string out;
  FILE* p = ::popen(cmd.c_str(), "r");
  if (!p) return out;
  std::array<char, 256> buf{};
  while (std::fgets(buf.data(), buf.size(), p)) out += buf.data();
  if (::pclose(p) != 0) return {};
  while (!out.empty() && (out.back() == '\n' || out.back() == '\r')) out.pop_back();
  return out;
}

}  // namespace

std::string git_sha() {
  const std::string dir = BATCHLAB_SOURCE_DIR;
  if (dir.empty()) return "unknown";
  const std::string sha = run("git -C '" + dir + "' rev-parse HEAD 2>/dev/null");
  if (sha.size() != 40) return "unknown";
  const std::string dirty = run("git -C '" + dir + "' status --porcelain --untracked-files=no 2>/dev/null");
  return dirty.empty() ? sha : sha + "-dirty";
}

std::string hostname() {
  char buf[256] = {};
  if (::gethostname(buf, sizeof buf - 1) != 0) return "unknown";
  return buf;
}

std::string utc_now_iso() {
  const std::time_t t = std::time(nullptr);
  std::tm tm{};
  ::gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

nlohmann::json library_versions() {
  return {
      {"batchlab", BATCHLAB_VERSION},
      {"eigen", std::to_string(EIGEN_WORLD_VERSION) + "." + std::to_string(EIGEN_MAJOR_VERSION) + "." +
                    std::to_string(EIGEN_MINOR_VERSION)},
      {"boost", std::to_string(BOOST_VERSION / 100000) + "." + std::to_string(BOOST_VERSION / 100 % 1000) + "." +
                    std::to_string(BOOST_VERSION % 100)},
      {"nlohmann_json", std::to_string(NLOHMANN_JSON_VERSION_MAJOR) + "." + std::to_string(NLOHMANN_JSON_VERSION_MINOR) +
                            "." + std::to_string(NLOHMANN_JSON_VERSION_PATCH)},
#if defined(__clang__)
      {"compiler", std::string("clang ") + __clang_version__},
#elif defined(__GNUC__)
      {"compiler", std::string("gcc ") + __VERSION__},
#else
      {"compiler", "unknown"},
#endif
      {"cxx_standard", __cplusplus},
  };
}

nlohmann::json provenance(int argc, char** argv) {
  std::vector<std::string> args(argv, argv + argc);
  return {{"argv", args},
          {"git_sha", git_sha()},
          {"versions", library_versions()},
          {"host", hostname()},
          {"started_utc", utc_now_iso()}};
}

}  // namespace batchlab::experiments

// Where a result came from (summary.json / noise_scale.json "provenance"): argv, git SHA of the
// source tree, library versions, host, UTC timestamps.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

namespace batchlab::experiments {

// `git -C BATCHLAB_SOURCE_DIR rev-parse HEAD` (+ "-dirty" if the tree has changes), or "unknown".
std::string git_sha();
std::string hostname();
std::string utc_now_iso();  // 2026-01-31T12:34:56Z
nlohmann::json library_versions();
// {argv, git_sha, versions, host, started_utc}
nlohmann::json provenance(int argc, char** argv);

}  // namespace batchlab::experiments

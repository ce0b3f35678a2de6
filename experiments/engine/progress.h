// A one-line progress bar with ETA on stderr, drawn only when stderr is a terminal (so logs and
// CI output stay clean). Redrawn at most 10 times a second.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

namespace batchlab::experiments {

class ProgressBar {
 public:
  // `done` trials were finished before this run (resume); the ETA uses only this run's rate.
  ProgressBar(std::string label, std::int64_t total, std::int64_t done);
  ProgressBar(std::string label, std::int64_t total, std::int64_t done, bool enabled);
  void tick();
  void finish();
  bool enabled() const { return enabled_; }

 private:
  void draw(bool force);
  std::string label_;
  std::int64_t total_, done_, start_done_;
  bool enabled_;
  std::chrono::steady_clock::time_point start_, last_draw_;
};

}  // namespace batchlab::experiments

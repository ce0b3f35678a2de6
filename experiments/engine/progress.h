// Progress of a study on stderr (study_driver.h picks one):
//   ProgressBar  one redrawn line with an ETA, only when stderr is a terminal (so logs and CI
//                output stay clean), at most 10 times a second: many short trials (sweep);
//   TrialLines   one line per finished trial, for logs too: few long trials (study).
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

// "[i/N] HEAD: TEXT | elapsed 1m02s, ETA 5m10s" per finished trial. The ETA is this run's rate
// (trials it ran: not those finished before it, nor reused ones) times the trials left; "-"
// until a trial has run.
class TrialLines {
 public:
  // `done` trials were finished before this run (resume).
  TrialLines(std::int64_t total, std::int64_t done);
  void trial(const std::string& head, const std::string& text, bool reused);

 private:
  std::int64_t total_, done_, finished_, reused_ = 0;
  std::chrono::steady_clock::time_point start_;
};

// A duration for reading: "45s", "2m05s", "1h07m".
std::string format_duration(double seconds);

}  // namespace batchlab::experiments

#include "experiments/engine/progress.h"

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace batchlab::experiments {

ProgressBar::ProgressBar(std::string label, std::int64_t total, std::int64_t done)
    : ProgressBar(std::move(label), total, done, ::isatty(STDERR_FILENO) == 1) {}

ProgressBar::ProgressBar(std::string label, std::int64_t total, std::int64_t done, bool enabled)
    : label_(std::move(label)), total_(total), done_(done), start_done_(done), enabled_(enabled),
      start_(std::chrono::steady_clock::now()), last_draw_(start_) {
  draw(true);
}

void ProgressBar::tick() {
  ++done_;
  draw(false);
}

void ProgressBar::finish() {
  if (!enabled_) return;
  draw(true);
  std::fputc('\n', stderr);
  enabled_ = false;
}

void ProgressBar::draw(bool force) {
  if (!enabled_) return;
  const auto now = std::chrono::steady_clock::now();
  if (!force && now - last_draw_ < std::chrono::milliseconds(100)) return;
  last_draw_ = now;
  const double elapsed = std::chrono::duration<double>(now - start_).count();
  const std::int64_t ran = done_ - start_done_;
  const double frac = total_ > 0 ? static_cast<double>(done_) / static_cast<double>(total_) : 1.0;
  constexpr int kWidth = 30;
  const int fill = static_cast<int>(frac * kWidth);
  char bar[kWidth + 1];
  for (int i = 0; i < kWidth; ++i) bar[i] = i < fill ? '#' : '.';
  bar[kWidth] = '\0';
  const std::string eta =
      ran > 0 ? format_duration(elapsed / static_cast<double>(ran) * static_cast<double>(total_ - done_)) : "--";
  std::fprintf(stderr, "\r%s [%s] %lld/%lld trials, %s elapsed, ETA %s   ", label_.c_str(), bar,
               static_cast<long long>(done_), static_cast<long long>(total_), format_duration(elapsed).c_str(),
               eta.c_str());
  std::fflush(stderr);
}

TrialLines::TrialLines(std::int64_t total, std::int64_t done)
    : total_(total), done_(done), finished_(done), start_(std::chrono::steady_clock::now()) {}

void TrialLines::trial(const std::string& head, const std::string& text, bool reused) {
  ++finished_;
  reused_ += reused;
  const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  const std::int64_t ran = finished_ - done_ - reused_;
  const double eta = ran > 0 ? elapsed / static_cast<double>(ran) * static_cast<double>(total_ - finished_) : 0.0;
  // Appended piecewise: GCC 12 flags "[" + std::to_string(...) with a false -Wrestrict.
  std::string line = "[";
  line.append(std::to_string(finished_)).append("/").append(std::to_string(total_)).append("] ");
  line.append(head).append(": ").append(text).append(" | elapsed ").append(format_duration(elapsed));
  line.append(", ETA ").append(ran > 0 || finished_ == total_ ? format_duration(eta) : "-").append("\n");
  std::fputs(line.c_str(), stderr);
}

std::string format_duration(double s) {
  char buf[32];
  const long t = std::lround(std::max(0.0, s));
  if (t >= 3600) std::snprintf(buf, sizeof buf, "%ldh%02ldm", t / 3600, t / 60 % 60);
  else if (t >= 60) std::snprintf(buf, sizeof buf, "%ldm%02lds", t / 60, t % 60);
  else std::snprintf(buf, sizeof buf, "%lds", t);
  return buf;
}

}  // namespace batchlab::experiments

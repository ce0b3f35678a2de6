#include "experiments/engine/progress.h"

#include <unistd.h>

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
  char eta[32] = "--";
  if (ran > 0) std::snprintf(eta, sizeof eta, "%.0fs", elapsed / static_cast<double>(ran) * static_cast<double>(total_ - done_));
  std::fprintf(stderr, "\r%s [%s] %lld/%lld trials, %.0fs elapsed, ETA %s   ", label_.c_str(), bar,
               static_cast<long long>(done_), static_cast<long long>(total_), elapsed, eta);
  std::fflush(stderr);
}

}  // namespace batchlab::experiments

#include "optim/sync_policy.h"

#include <charconv>
#include <cmath>
#include <stdexcept>
#include <string_view>
#include <utility>

#include "optim/config.h"
#include "optim/io.h"

namespace batchlab::optim {
namespace {

std::int64_t parse_int(const std::string& spec, std::string_view s, const char* what) {
  std::int64_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size())
    throw ConfigError("sync policy '" + spec + "': " + what + " '" + std::string(s) +
                      "' is not an integer");
  return v;
}

std::string fmt(double v) { return format_number(v); }

// The outer optimizer's settings, checked once with the policy that uses them.
void validate_outer(const std::string& spec, const OuterConfig& o, std::int64_t period) {
  if (!(o.lr > 0.0) || !std::isfinite(o.lr))
    throw ConfigError("sync policy '" + spec + "': outer lr = " + fmt(o.lr) + ": must be > 0");
  if (!(o.momentum >= 0.0 && o.momentum < 1.0))
    throw ConfigError("sync policy '" + spec + "': outer momentum = " + fmt(o.momentum) + ": must be in [0, 1)");
  if (o.bits != 32 && o.bits != 16 && o.bits != 8 && o.bits != 4)
    throw ConfigError("sync policy '" + spec + "': outer bits = " + std::to_string(o.bits) +
                      ": must be one of 32, 16, 8, 4");
  if (o.overlap && (o.overlap_steps < 1 || o.overlap_steps >= period))
    throw ConfigError("sync policy '" + spec + "': overlap steps = " + std::to_string(o.overlap_steps) +
                      ": must be in [1, H) so a fragment's result lands before its next outer step");
}

// The two fields of a policy's "A<sep>B" tail (post-local's H@t0, hier's H1:H2, streaming's H:F).
std::pair<std::string_view, std::string_view> split_pair(const std::string& spec, std::string_view rest, char sep,
                                                         const char* form) {
  const auto at = rest.find(sep);
  if (at == std::string_view::npos) throw ConfigError("sync policy '" + spec + "': expected " + form);
  return {rest.substr(0, at), rest.substr(at + 1)};
}

}  // namespace

OuterRule OuterConfig::parse_rule(const std::string& s) {
  if (s == "nesterov") return OuterRule::kNesterov;
  if (s == "sgd") return OuterRule::kSgd;
  throw ConfigError("outer optimizer '" + s + "': unknown (nesterov, sgd)");
}

Rounding OuterConfig::parse_rounding(const std::string& s) {
  if (s == "nearest") return Rounding::kNearest;
  if (s == "stochastic") return Rounding::kStochastic;
  throw ConfigError("outer rounding '" + s + "': unknown (nearest, stochastic)");
}

std::string OuterConfig::to_string(OuterRule r) { return r == OuterRule::kNesterov ? "nesterov" : "sgd"; }
std::string OuterConfig::to_string(Rounding r) { return r == Rounding::kNearest ? "nearest" : "stochastic"; }

SyncPolicy SyncPolicy::parse(const std::string& spec, bool average_momentum, const OuterConfig& outer) {
  SyncPolicy p;
  p.average_momentum = average_momentum;
  p.outer = outer;
  const std::string_view s = spec;
  auto positive = [&](std::int64_t v, const char* what) {
    if (v <= 0) throw ConfigError("sync policy '" + spec + "': " + what + " = " + std::to_string(v) + ": must be > 0");
    return v;
  };
  if (s == "sync") {
    p.kind = SyncKind::kSync;
  } else if (s.starts_with("local:")) {
    p.kind = SyncKind::kLocal;
    p.period = positive(parse_int(spec, s.substr(6), "H"), "H");
  } else if (s.starts_with("post-local:")) {
    p.kind = SyncKind::kPostLocal;
    const auto [h, t0] = split_pair(spec, s.substr(11), '@', "post-local:H@t0");
    p.period = positive(parse_int(spec, h, "H"), "H");
    p.switch_step = parse_int(spec, t0, "t0");
    if (p.switch_step < 0) throw ConfigError("sync policy '" + spec + "': t0 must be >= 0");
  } else if (s.starts_with("hier:")) {
    p.kind = SyncKind::kHierarchical;
    const auto [h1, h2] = split_pair(spec, s.substr(5), ':', "hier:H1:H2");
    p.period = positive(parse_int(spec, h1, "H1"), "H1");
    p.outer_period = positive(parse_int(spec, h2, "H2"), "H2");
  } else if (s.starts_with("diloco:")) {
    p.kind = SyncKind::kDiloco;
    p.period = positive(parse_int(spec, s.substr(7), "H"), "H");
  } else if (s.starts_with("streaming-diloco:")) {
    p.kind = SyncKind::kStreamingDiloco;
    const auto [h, f] = split_pair(spec, s.substr(17), ':', "streaming-diloco:H:F");
    p.period = positive(parse_int(spec, h, "H"), "H");
    p.fragments = positive(parse_int(spec, f, "F"), "F");
    if (p.period % p.fragments != 0)
      throw ConfigError("sync policy '" + spec + "': F = " + std::to_string(p.fragments) +
                        " must divide H = " + std::to_string(p.period) +
                        " (fragment f syncs at offset f H/F, a whole number of updates)");
  } else {
    throw ConfigError("sync policy '" + spec +
                      "': unknown (sync, local:H, post-local:H@t0, hier:H1:H2, diloco:H, "
                      "streaming-diloco:H:F)");
  }
  if (p.outer_steps()) {
    validate_outer(spec, outer, p.period);
    // Inner optimizer state stays with its worker in DiLoCo; averaging it has no outer step.
    if (average_momentum)
      throw ConfigError("sync policy '" + spec + "': average_momentum is not defined for DiLoCo "
                        "(inner optimizer state stays local)");
  }
  return p;
}

std::string SyncPolicy::to_string() const {
  switch (kind) {
    case SyncKind::kSync: return "sync";
    case SyncKind::kLocal: return "local:" + std::to_string(period);
    case SyncKind::kPostLocal:
      return "post-local:" + std::to_string(period) + "@" + std::to_string(switch_step);
    case SyncKind::kHierarchical:
      return "hier:" + std::to_string(period) + ":" + std::to_string(outer_period);
    case SyncKind::kDiloco: return "diloco:" + std::to_string(period);
    case SyncKind::kStreamingDiloco:
      return "streaming-diloco:" + std::to_string(period) + ":" + std::to_string(fragments);
  }
  return "?";
}

std::int64_t SyncPolicy::fragment_due_after(std::int64_t step) const {
  if (!outer_steps()) return -1;
  const std::int64_t done = step + 1;
  const std::int64_t phase = done % period, stride = period / fragments;
  // Offsets f H/F, f = 0..F-1, are distinct mod H: at most one fragment per update.
  if (phase % stride != 0) return -1;
  return phase / stride;
}

bool SyncPolicy::allreduce_gradients(std::int64_t step) const {
  if (kind == SyncKind::kSync) return true;
  if (kind == SyncKind::kPostLocal) return step < switch_step;
  return false;
}

AverageScope SyncPolicy::average_after(std::int64_t step) const {
  const std::int64_t done = step + 1;
  switch (kind) {
    case SyncKind::kSync: return AverageScope::kNone;
    case SyncKind::kLocal: return done % period == 0 ? AverageScope::kGlobal : AverageScope::kNone;
    case SyncKind::kPostLocal:
      if (done <= switch_step) return AverageScope::kNone;
      return (done - switch_step) % period == 0 ? AverageScope::kGlobal : AverageScope::kNone;
    case SyncKind::kHierarchical:
      if (done % (period * outer_period) == 0) return AverageScope::kGlobal;
      return done % period == 0 ? AverageScope::kNode : AverageScope::kNone;
    case SyncKind::kDiloco:
    case SyncKind::kStreamingDiloco:
      return AverageScope::kNone;  // outer steps instead (fragment_due_after)
  }
  return AverageScope::kNone;
}

std::int64_t SyncPolicy::communication_rounds(std::int64_t steps) const {
  std::int64_t n = 0;
  for (std::int64_t t = 0; t < steps; ++t) {
    if (allreduce_gradients(t)) ++n;
    if (average_after(t) != AverageScope::kNone) ++n;
    if (fragment_due_after(t) >= 0) ++n;
  }
  return n;
}

std::int64_t SyncPolicy::bytes_sent(std::int64_t step, std::int64_t param_count, std::int64_t state_count,
                                    std::int64_t value_bytes) const {
  if (outer_steps()) throw std::logic_error("SyncPolicy::bytes_sent: DiLoCo counts its bytes in DilocoSync");
  std::int64_t values = 0;
  if (allreduce_gradients(step)) values += param_count;
  if (average_after(step) != AverageScope::kNone) values += param_count + (average_momentum ? state_count : 0);
  return values * value_bytes;
}

}  // namespace batchlab::optim

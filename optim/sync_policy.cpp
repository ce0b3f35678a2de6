#include "optim/sync_policy.h"

#include <charconv>

#include "optim/config.h"

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

}  // namespace

SyncPolicy SyncPolicy::parse(const std::string& spec, bool average_momentum) {
  SyncPolicy p;
  p.average_momentum = average_momentum;
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
    auto rest = s.substr(11);
    auto at = rest.find('@');
    if (at == std::string_view::npos)
      throw ConfigError("sync policy '" + spec + "': expected post-local:H@t0");
    p.period = positive(parse_int(spec, rest.substr(0, at), "H"), "H");
    p.switch_step = parse_int(spec, rest.substr(at + 1), "t0");
    if (p.switch_step < 0) throw ConfigError("sync policy '" + spec + "': t0 must be >= 0");
  } else if (s.starts_with("hier:")) {
    p.kind = SyncKind::kHierarchical;
    auto rest = s.substr(5);
    auto c = rest.find(':');
    if (c == std::string_view::npos)
      throw ConfigError("sync policy '" + spec + "': expected hier:H1:H2");
    p.period = positive(parse_int(spec, rest.substr(0, c), "H1"), "H1");
    p.outer_period = positive(parse_int(spec, rest.substr(c + 1), "H2"), "H2");
  } else {
    throw ConfigError("sync policy '" + spec +
                      "': unknown (sync, local:H, post-local:H@t0, hier:H1:H2)");
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
  }
  return "?";
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
  }
  return AverageScope::kNone;
}

std::int64_t SyncPolicy::communication_rounds(std::int64_t steps) const {
  std::int64_t n = 0;
  for (std::int64_t t = 0; t < steps; ++t) {
    if (allreduce_gradients(t)) ++n;
    if (average_after(t) != AverageScope::kNone) ++n;
  }
  return n;
}

}  // namespace batchlab::optim

#include "optim/io.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <system_error>

namespace batchlab::optim {
namespace fs = std::filesystem;

namespace {

std::string_view trim(std::string_view s) {
  const auto b = s.find_first_not_of(" \t");
  if (b == std::string_view::npos) return {};
  return s.substr(b, s.find_last_not_of(" \t") - b + 1);
}

[[noreturn]] void fail(const std::string& what, const fs::path& p) {
  throw std::system_error(errno, std::generic_category(), what + " " + p.string());
}

void write_all(int fd, std::string_view s, const fs::path& p) {
  std::size_t done = 0;
  while (done < s.size()) {
    const ssize_t n = ::write(fd, s.data() + done, s.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      const int e = errno;
      ::close(fd);
      errno = e;
      fail("cannot write", p);
    }
    done += static_cast<std::size_t>(n);
  }
}

fs::path tmp_of(const fs::path& p) { return p.string() + ".tmp"; }

}  // namespace

std::string format_number(double v) {
  if (std::isnan(v)) return "nan";
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  char buf[64];
  const auto r = std::to_chars(buf, buf + sizeof buf, v);
  return std::string(buf, r.ptr);
}

std::string format_number(double v, int significant) {
  if (!std::isfinite(v)) return format_number(v);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*g", significant, v);
  return buf;
}

std::optional<double> to_double(std::string_view text) {
  const std::string t(trim(text));
  if (t.empty()) return std::nullopt;
  errno = 0;
  char* end = nullptr;
  const double v = std::strtod(t.c_str(), &end);
  if (end != t.c_str() + t.size() || errno == ERANGE || !std::isfinite(v)) return std::nullopt;
  return v;
}

std::optional<std::int64_t> to_int(std::string_view text) {
  const std::string t(trim(text));
  if (t.empty()) return std::nullopt;
  errno = 0;
  char* end = nullptr;
  const long long v = std::strtoll(t.c_str(), &end, 10);
  if (end != t.c_str() + t.size() || errno == ERANGE) return std::nullopt;
  return static_cast<std::int64_t>(v);
}

void replace_file_atomic(const fs::path& path, const std::function<void(const fs::path& tmp)>& write,
                         Durability durability) {
  const fs::path tmp = tmp_of(path);
  write(tmp);
  if (durability == Durability::kProcessKill) {
    fs::rename(tmp, path);
    return;
  }
  const int fd = ::open(tmp.c_str(), O_RDONLY);
  if (fd < 0) fail("cannot open", tmp);
  if (::fsync(fd) != 0) {
    const int e = errno;
    ::close(fd);
    errno = e;
    fail("cannot write", tmp);
  }
  if (::close(fd) != 0) fail("cannot write", tmp);
  fs::rename(tmp, path);
}

void write_file_atomic(const fs::path& path, std::string_view content, Durability durability) {
  replace_file_atomic(
      path,
      [&](const fs::path& tmp) {
        const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd < 0) fail("cannot create", tmp);
        write_all(fd, content, tmp);
        if (::close(fd) != 0) fail("cannot write", tmp);
      },
      durability);
}

void append_file_atomic(const fs::path& path, std::string_view tail) {
  const fs::path tmp = tmp_of(path);
  fs::copy_file(path, tmp, fs::copy_options::overwrite_existing);
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_APPEND);
  if (fd < 0) fail("cannot open", tmp);
  write_all(fd, tail, tmp);
  if (::close(fd) != 0) fail("cannot write", tmp);
  fs::rename(tmp, path);
}

std::vector<std::string> split_list(std::string_view text, char sep) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (true) {
    const auto p = text.find(sep, start);
    out.emplace_back(trim(text.substr(start, p == std::string_view::npos ? p : p - start)));
    if (p == std::string_view::npos) return out;
    start = p + 1;
  }
}

std::vector<std::int64_t> parse_count_list(const std::string& key, const std::string& text,
                                           bool strictly_increasing) {
  const auto out = parse_list<std::int64_t>(key, text, "a whole number > 0", [](std::string_view s) {
    const auto v = to_int(s);
    return v && *v > 0 ? v : std::nullopt;
  });
  for (std::size_t i = 1; strictly_increasing && i < out.size(); ++i)
    if (out[i] <= out[i - 1])
      throw ConfigError(key + " = '" + text + "': " + std::to_string(out[i]) + " does not exceed the previous milestone " +
                        std::to_string(out[i - 1]) + " (milestones must be strictly increasing)");
  return out;
}

std::vector<double> parse_nonnegative_list(const std::string& key, const std::string& text) {
  return parse_list<double>(key, text, "a number >= 0", [](std::string_view s) {
    const auto v = to_double(s);
    return v && *v >= 0.0 ? v : std::nullopt;
  });
}

}  // namespace batchlab::optim

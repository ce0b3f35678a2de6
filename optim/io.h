// The low-level helpers that every part of batchlab shares, each written once:
//   * how a number becomes text (results files, config.ini, error messages, metrics logs);
//   * crash-safe file writes (results files, the trainer's summary and metrics, checkpoints);
//   * the comma lists of config values (milestones, grids, widths, names).
// They live in optim because optim is the one library that sim, realtrain and experiments all
// depend on: putting them higher up would make realtrain depend on experiments (or duplicate
// them), which the layering forbids. Standard library + POSIX only; nothing here knows about
// optimizers.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "optim/config.h"

namespace batchlab::optim {

// ---- numbers as text ----

// The shortest decimal that reads back to the same double ("0.1", "1e-05", "3"); "nan", "inf",
// "-inf". Results files and config.ini use it, so a value written and read back is the same value.
std::string format_number(double v);
// printf's %.<significant>g ("0.12345679" for 8): where a fixed number of significant digits is
// the format (the trainer's metrics.csv, reports meant for reading).
std::string format_number(double v, int significant);

// Whole-string number parsing (surrounding blanks allowed): nullopt unless all of `text` is one
// number (to_double: finite; to_int: base 10, in range).
std::optional<double> to_double(std::string_view text);
std::optional<std::int64_t> to_int(std::string_view text);

// ---- crash-safe file writes ----
// A reader, or a restart after SIGKILL, sees the old file or the new one, never a torn one.

// What a finished write survives. kProcessKill: the rename alone, atomic for every other process
// and across SIGKILL (the page cache outlives the process); for files rewritten often (a
// metrics log at every evaluation). kPowerLoss: the new content is fsync'ed before the rename,
// at the cost of a disk flush; for files written once (summaries, checkpoints, config.ini).
enum class Durability { kPowerLoss, kProcessKill };

// Replaces `path` through PATH.tmp: `write(tmp)` creates and fills PATH.tmp (any writer: text,
// a serialised archive), which is then renamed over PATH. Throws std::system_error or what
// `write` throws; on failure PATH is untouched.
void replace_file_atomic(const std::filesystem::path& path,
                         const std::function<void(const std::filesystem::path& tmp)>& write,
                         Durability durability = Durability::kPowerLoss);
// replace_file_atomic with `content` as the new file.
void write_file_atomic(const std::filesystem::path& path, std::string_view content,
                       Durability durability = Durability::kPowerLoss);
// Appends `tail` as one step: PATH is copied to PATH.tmp, `tail` appended, and PATH.tmp renamed
// over PATH. Not fsync'ed: rename is atomic for every other process and across SIGKILL (the page
// cache survives the process); only a power cut could lose the last appends, which is the
// price of appending often (results rows of a running study, which a restart recomputes).
void append_file_atomic(const std::filesystem::path& path, std::string_view tail);

// ---- comma lists of config values ----

// Items of a `sep`-separated list, each trimmed of blanks and tabs; empty items are kept
// ("a,,b" -> a, "", b; "" -> one empty item), so callers can refuse them by name.
std::vector<std::string> split_list(std::string_view text, char sep = ',');

// The one typed list reader: every item of the comma list `text` through `item`, which returns
// nullopt for a bad one; "" is the empty list. A bad or empty item throws ConfigError
// "KEY = 'TEXT': 'ITEM' is not WHAT".
template <class T>
std::vector<T> parse_list(const std::string& key, const std::string& text, const std::string& what,
                          const std::function<std::optional<T>(std::string_view)>& item) {
  std::vector<T> out;
  if (text.empty()) return out;
  for (const std::string& s : split_list(text)) {
    const std::optional<T> v = s.empty() ? std::nullopt : item(s);
    if (!v) throw ConfigError(key + " = '" + text + "': '" + s + "' is not " + what);
    out.push_back(*v);
  }
  return out;
}

// Milestones in steps or examples: whole numbers > 0 ("" = none); with `strictly_increasing`,
// a value not above the previous one throws ConfigError "KEY = 'TEXT': V does not exceed the
// previous milestone P (milestones must be strictly increasing)".
std::vector<std::int64_t> parse_count_list(const std::string& key, const std::string& text,
                                           bool strictly_increasing);
// Milestones in epochs: numbers >= 0 ("" = none).
std::vector<double> parse_nonnegative_list(const std::string& key, const std::string& text);

}  // namespace batchlab::optim

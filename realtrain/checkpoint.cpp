#include "realtrain/checkpoint.h"

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <iterator>
#include <sstream>
#include <stdexcept>

#include "optim/io.h"

namespace batchlab::realtrain {
namespace {

torch::Tensor bytes_tensor(const std::string& s) {
  auto t = torch::empty({static_cast<std::int64_t>(s.size())}, torch::kUInt8);
  if (!s.empty()) std::memcpy(t.data_ptr<std::uint8_t>(), s.data(), s.size());
  return t;
}

void write_list(torch::serialize::OutputArchive& a, const std::string& key,
                const std::vector<torch::Tensor>& ts) {
  a.write(key + ".count", torch::tensor(static_cast<std::int64_t>(ts.size())));
  for (std::size_t i = 0; i < ts.size(); ++i)
    a.write(key + "." + std::to_string(i), ts[i].detach().to(torch::kCPU).contiguous());
}

// A fresh tensor each time: reading into a defined tensor of another size throws.
torch::Tensor read_tensor(torch::serialize::InputArchive& a, const std::string& key) {
  torch::Tensor t;
  a.read(key, t);
  return t;
}

std::string string_of(const torch::Tensor& bytes) {
  const torch::Tensor b = bytes.contiguous();
  return {reinterpret_cast<const char*>(b.data_ptr<std::uint8_t>()), static_cast<std::size_t>(b.numel())};
}

std::vector<double> doubles_of(const torch::Tensor& t) {
  const torch::Tensor d = t.to(torch::kDouble).contiguous();
  return {d.data_ptr<double>(), d.data_ptr<double>() + d.numel()};
}

// Names joined by '\n' (no name holds one) beside a double tensor of the values, same order.
void write_progress(torch::serialize::OutputArchive& a, const std::map<std::string, double>& progress) {
  std::string names;
  std::vector<double> values;
  for (const auto& [name, value] : progress) {
    if (name.empty() || name.find('\n') != std::string::npos)
      throw std::invalid_argument("progress value name '" + name + "' is empty or holds a newline");
    names += (names.empty() ? "" : "\n") + name;
    values.push_back(value);
  }
  a.write("progress.names", bytes_tensor(names));
  a.write("progress.values", torch::tensor(values, torch::kDouble));
}

std::map<std::string, double> read_progress(torch::serialize::InputArchive& a) {
  std::map<std::string, double> out;
  torch::Tensor names;
  if (a.try_read("progress.names", names)) {
    const std::vector<double> v = doubles_of(read_tensor(a, "progress.values"));
    std::stringstream ss(string_of(names));
    std::string name;
    for (std::size_t i = 0; std::getline(ss, name, '\n'); ++i) {
      if (i >= v.size()) throw std::runtime_error("progress has more names than values");
      out[name] = v[i];
    }
    if (out.size() != v.size()) throw std::runtime_error("progress has more values than names");
    return out;
  }
  // The positional format that preceded names.
  const std::vector<double> v = doubles_of(read_tensor(a, "counters"));
  const char* legacy[] = {"wall_s", "comm_s", "data_s", "examples"};
  for (std::size_t i = 0; i < v.size() && i < std::size(legacy); ++i) out[legacy[i]] = v[i];
  return out;
}

// Named double vectors (DiLoCo's outer state): "<key>.names" ('\n'-joined) and "<key>.<i>".
void write_named(torch::serialize::OutputArchive& a, const std::string& key,
                 const std::map<std::string, std::vector<double>>& named) {
  std::string names;
  std::size_t i = 0;
  for (const auto& [name, values] : named) {
    if (name.empty() || name.find('\n') != std::string::npos)
      throw std::invalid_argument("state name '" + name + "' is empty or holds a newline");
    names += (names.empty() ? "" : "\n") + name;
    a.write(key + "." + std::to_string(i++), torch::tensor(values, torch::kDouble));
  }
  a.write(key + ".names", bytes_tensor(names));
}

std::map<std::string, std::vector<double>> read_named(torch::serialize::InputArchive& a, const std::string& key) {
  std::map<std::string, std::vector<double>> out;
  torch::Tensor names;
  if (!a.try_read(key + ".names", names)) return out;  // written before the key existed
  std::stringstream ss(string_of(names));
  std::string name;
  for (std::size_t i = 0; std::getline(ss, name, '\n'); ++i)
    out[name] = doubles_of(read_tensor(a, key + "." + std::to_string(i)));
  return out;
}

std::vector<torch::Tensor> read_list(torch::serialize::InputArchive& a, const std::string& key) {
  torch::Tensor n;
  a.read(key + ".count", n);
  std::vector<torch::Tensor> out(static_cast<std::size_t>(n.item<std::int64_t>()));
  for (std::size_t i = 0; i < out.size(); ++i) a.read(key + "." + std::to_string(i), out[i]);
  return out;
}

}  // namespace

void save_checkpoint(const std::string& path, const CheckpointState& s) {
  const std::string tmp = path + ".tmp";
  torch::serialize::OutputArchive a;
  try {
    std::filesystem::create_directories(std::filesystem::path(path).parent_path());
    a.write("step", torch::tensor(s.step));
    a.write("prev_lr", torch::tensor(s.prev_lr, torch::kDouble));
    write_list(a, "params", s.params);
    write_list(a, "buffers", s.buffers);
    write_list(a, "optimizer_state", s.optimizer_state);
    write_list(a, "preconditioner_state", s.preconditioner_state);
    a.write("metrics_csv", bytes_tensor(s.metrics_csv));
    a.write("noise_scale", torch::tensor(s.noise_scale, torch::kDouble));
    write_progress(a, s.progress);
    if (!s.outer.empty()) write_named(a, "outer", s.outer);
    // PATH.tmp, fsync'ed, renamed over PATH (optim/io.h): a crash keeps the previous checkpoint.
    optim::replace_file_atomic(path, [&a](const std::filesystem::path& t) { a.save_to(t.string()); });
  } catch (const std::exception& e) {
    throw std::runtime_error("cannot write checkpoint " + tmp + ": " + e.what());
  }
}

CheckpointState load_checkpoint(const std::string& path) {
  if (!std::filesystem::exists(path)) throw std::runtime_error("checkpoint " + path + " does not exist");
  CheckpointState s;
  try {
    torch::serialize::InputArchive a;
    a.load_from(path);
    s.step = read_tensor(a, "step").item<std::int64_t>();
    s.prev_lr = read_tensor(a, "prev_lr").item<double>();
    s.params = read_list(a, "params");
    s.buffers = read_list(a, "buffers");
    s.optimizer_state = read_list(a, "optimizer_state");
    torch::Tensor n;
    if (a.try_read("preconditioner_state.count", n)) s.preconditioner_state = read_list(a, "preconditioner_state");
    s.metrics_csv = string_of(read_tensor(a, "metrics_csv"));
    torch::Tensor ns;
    if (a.try_read("noise_scale", ns)) s.noise_scale = doubles_of(ns);  // absent in older checkpoints
    s.progress = read_progress(a);
    s.outer = read_named(a, "outer");
  } catch (const std::exception& e) {
    throw std::runtime_error("cannot read checkpoint " + path + ": " + e.what());
  }
  return s;
}

}  // namespace batchlab::realtrain

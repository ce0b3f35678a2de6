#include "realtrain/checkpoint.h"

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <stdexcept>

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
  try {
    std::filesystem::create_directories(std::filesystem::path(path).parent_path());
    torch::serialize::OutputArchive a;
    a.write("step", torch::tensor(s.step));
    a.write("prev_lr", torch::tensor(s.prev_lr, torch::kDouble));
    write_list(a, "params", s.params);
    write_list(a, "buffers", s.buffers);
    write_list(a, "optimizer_state", s.optimizer_state);
    a.write("metrics_csv", bytes_tensor(s.metrics_csv));
    a.write("counters", torch::tensor(s.counters, torch::kDouble));
    a.write("noise_scale", torch::tensor(s.noise_scale, torch::kDouble));
    a.save_to(tmp);
  } catch (const std::exception& e) {
    throw std::runtime_error("cannot write checkpoint " + tmp + ": " + e.what());
  }
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  if (ec) throw std::runtime_error("cannot rename checkpoint " + tmp + " -> " + path + ": " + ec.message());
}

CheckpointState load_checkpoint(const std::string& path) {
  if (!std::filesystem::exists(path)) throw std::runtime_error("checkpoint " + path + " does not exist");
  CheckpointState s;
  try {
    torch::serialize::InputArchive a;
    a.load_from(path);
    torch::Tensor t;
    a.read("step", t);
    s.step = t.item<std::int64_t>();
    a.read("prev_lr", t);
    s.prev_lr = t.item<double>();
    s.params = read_list(a, "params");
    s.buffers = read_list(a, "buffers");
    s.optimizer_state = read_list(a, "optimizer_state");
    torch::Tensor bytes;
    a.read("metrics_csv", bytes);
    bytes = bytes.contiguous();
    s.metrics_csv.assign(reinterpret_cast<const char*>(bytes.data_ptr<std::uint8_t>()),
                         static_cast<std::size_t>(bytes.numel()));
    torch::Tensor c;
    a.read("counters", c);
    c = c.to(torch::kDouble).contiguous();
    s.counters.assign(c.data_ptr<double>(), c.data_ptr<double>() + c.numel());
    torch::Tensor ns;
    if (a.try_read("noise_scale", ns)) {  // absent in checkpoints written before it was saved
      ns = ns.to(torch::kDouble).contiguous();
      s.noise_scale.assign(ns.data_ptr<double>(), ns.data_ptr<double>() + ns.numel());
    }
  } catch (const std::exception& e) {
    throw std::runtime_error("cannot read checkpoint " + path + ": " + e.what());
  }
  return s;
}

}  // namespace batchlab::realtrain

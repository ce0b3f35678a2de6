#include "realtrain/grad_sync.h"

#include <chrono>
#include <condition_variable>
#include <exception>
#include <mutex>
#include <stdexcept>
#include <thread>
#include <utility>

#include <torch/csrc/autograd/function.h>
#include <torch/csrc/autograd/function_hook.h>
#include <torch/csrc/autograd/variable.h>

#include "realtrain/torch_backend.h"

namespace batchlab::realtrain {

namespace {
using Clock = std::chrono::steady_clock;

// Non-blocking MPI collectives move data only inside MPI calls; between the last gradient hook
// and finish() nothing else calls MPI, so a helper thread tests the collectives in flight at
// this interval. It sleeps in between, so it does not take a core from backward.
constexpr auto kProgressInterval = std::chrono::microseconds(100);

optim::DType to_dtype(const torch::Tensor& t, std::size_t index) {
  if (t.scalar_type() == torch::kFloat32) return optim::DType::kFloat32;
  if (t.scalar_type() == torch::kFloat64) return optim::DType::kFloat64;
  throw std::invalid_argument("GradientSynchronizer: parameter " + std::to_string(index) + " has dtype " +
                              std::string(c10::toString(t.scalar_type())) + "; only float32 and float64 are supported");
}
}  // namespace

struct GradientSynchronizer::State {
  struct Bucket {
    std::vector<std::size_t> params;  // indices into State::params, in bucket order
    std::vector<int64_t> offsets;     // element offset of each param in `flat`
    torch::Tensor flat;
    std::size_t pending = 0;  // params whose gradient has not arrived this step
    bool launched = false;
    bool mean_already = false;  // a blocking (non-async) communicator already averaged it
    bool complete = false;      // its collective is known to have finished
    std::unique_ptr<PendingCollective> op;
  };

  std::mutex mu;
  std::vector<torch::Tensor> params;
  std::vector<std::shared_ptr<torch::autograd::Node>> accumulators;  // keeps our hooks alive
  std::vector<std::uintptr_t> hook_keys;
  std::vector<std::size_t> bucket_of, slot_in_bucket;
  std::vector<char> ready;
  std::vector<Bucket> buckets;
  optim::Communicator* comm = nullptr;
  AsyncCommunicator* async = nullptr;
  bool overlap = true;
  bool active = false;   // between prepare(true) and finish(), with more than one rank
  bool prepared = false;  // between prepare() and finish()
  std::size_t next_launch = 0;
  std::size_t launched_in_backward = 0;
  std::size_t in_flight = 0;  // launched asynchronous collectives not yet known complete
  std::condition_variable progress_cv;
  bool progress_stop = false;
  std::exception_ptr progress_error;
  std::thread progress_thread;
  std::vector<torch::Tensor> sq_parts;  // per-bucket |g|^2 (device tensors stay on device)
  double sq_cpu = 0;                    // per-bucket |g|^2 summed here for CPU buckets
  double sq_norm = 0, reduced_sq_norm = 0;
  double comm_s = 0;

  void copy_in(std::size_t i) {
    auto& b = buckets[bucket_of[i]];
    const auto& p = params[i];
    auto dst = b.flat.narrow(0, b.offsets[slot_in_bucket[i]], p.numel()).view(p.sizes());
    const auto& g = p.grad();
    if (!g.defined()) {
      dst.zero_();
    } else {
      if (g.is_sparse()) {
        throw std::invalid_argument("GradientSynchronizer: parameter " + std::to_string(i) +
                                    " has a sparse gradient; only dense gradients are supported");
      }
      dst.copy_(g);
    }
  }

  void launch(std::size_t bi) {
    auto& b = buckets[bi];
    // Noise-scale estimators need this rank's own gradient norm, so it is taken before reduction.
    // A dot product needs no temporary the size of the bucket; it stays a tensor so a CUDA
    // bucket does not synchronise here.
    if (b.flat.device().is_cpu())
      sq_cpu += TorchBackend::squared_norm(b.flat);  // one pass, accumulated in double
    else
      sq_parts.push_back(torch::dot(b.flat, b.flat));
    const optim::BufferRef ref{b.flat.data_ptr(), static_cast<std::size_t>(b.flat.numel()),
                               to_dtype(b.flat, b.params.front())};
    if (async != nullptr) {
      b.op = async->start_allreduce_sum(ref);
      ++in_flight;
      progress_cv.notify_one();
    } else {
      const auto t0 = Clock::now();
      comm->allreduce_mean(std::span<const optim::BufferRef>(&ref, 1));
      comm_s += std::chrono::duration<double>(Clock::now() - t0).count();
      b.mean_already = true;
    }
    b.launched = true;
  }

  // Launches, in bucket order, every bucket whose gradients are all in.
  void launch_ready() {
    while (next_launch < buckets.size() && buckets[next_launch].pending == 0) launch(next_launch++);
  }

  void on_grad_ready(std::size_t i) {
    std::lock_guard lock(mu);
    if (!active || !overlap || ready[i]) return;
    ready[i] = 1;
    copy_in(i);
    --buckets[bucket_of[i]].pending;
    launch_ready();
    // Non-blocking MPI collectives progress only inside MPI calls: poke the ones in flight.
    poll_in_flight();
  }

  // Caller holds mu.
  void poll_in_flight() {
    for (std::size_t k = 0; k < next_launch && in_flight > 0; ++k) {
      auto& b = buckets[k];
      if (b.op && !b.complete && b.op->test()) {
        b.complete = true;
        --in_flight;
      }
    }
  }

  void progress_loop() {
    std::unique_lock lock(mu);
    while (!progress_stop) {
      if (in_flight == 0 || progress_error) {
        progress_cv.wait(lock, [&] { return progress_stop || (in_flight > 0 && !progress_error); });
        continue;
      }
      try {
        poll_in_flight();
      } catch (...) {
        progress_error = std::current_exception();  // rethrown by finish() on the training thread
      }
      lock.unlock();
      std::this_thread::sleep_for(kProgressInterval);
      lock.lock();
    }
  }
};

namespace {
// Runs after AccumulateGrad has written the parameter's .grad().
class GradReadyHook final : public torch::autograd::FunctionPostHook {
 public:
  GradReadyHook(std::weak_ptr<GradientSynchronizer::State> state, std::size_t index)
      : state_(std::move(state)), index_(index) {}
  torch::autograd::variable_list operator()(const torch::autograd::variable_list& outputs,
                                            const torch::autograd::variable_list& /*inputs*/) override {
    if (auto s = state_.lock()) s->on_grad_ready(index_);
    return outputs;
  }

 private:
  std::weak_ptr<GradientSynchronizer::State> state_;
  std::size_t index_;
};
}  // namespace

GradientSynchronizer::GradientSynchronizer(std::vector<torch::Tensor> params, optim::Communicator& comm,
                                           std::size_t bucket_bytes, bool overlap)
    : state_(std::make_shared<State>()) {
  auto& s = *state_;
  if (bucket_bytes == 0) throw std::invalid_argument("GradientSynchronizer: bucket_bytes must be positive, got 0");
  if (comm.replicas_here() != 1) {
    throw std::invalid_argument("GradientSynchronizer: communicator '" + comm.name() + "' hosts " +
                                std::to_string(comm.replicas_here()) + " replicas here; need 1 per process");
  }
  s.comm = &comm;
  s.async = dynamic_cast<AsyncCommunicator*>(&comm);
  s.overlap = overlap;
  for (auto& p : params) {
    if (p.requires_grad()) s.params.push_back(p);
  }
  const std::size_t n = s.params.size();
  s.bucket_of.assign(n, 0);
  s.slot_in_bucket.assign(n, 0);
  s.ready.assign(n, 0);
  // Reverse registration order: backward produces the last layers' gradients first.
  std::size_t bucket_bytes_so_far = 0;
  for (std::size_t k = n; k-- > 0;) {
    const auto& p = s.params[k];
    const auto dtype = to_dtype(p, k);
    const std::size_t bytes = static_cast<std::size_t>(p.numel()) * p.element_size();
    bool fresh = s.buckets.empty();
    if (!fresh) {
      // A parameter larger than bucket_bytes gets a bucket of its own.
      const auto& last = s.params[s.buckets.back().params.back()];
      fresh = bucket_bytes_so_far + bytes > bucket_bytes || to_dtype(last, 0) != dtype || last.device() != p.device();
    }
    if (fresh) {
      s.buckets.emplace_back();
      bucket_bytes_so_far = 0;
    }
    auto& b = s.buckets.back();
    s.bucket_of[k] = s.buckets.size() - 1;
    s.slot_in_bucket[k] = b.params.size();
    b.offsets.push_back(b.params.empty() ? 0 : b.offsets.back() + s.params[b.params.back()].numel());
    b.params.push_back(k);
    bucket_bytes_so_far += bytes;
  }
  for (auto& b : s.buckets) {
    int64_t total = 0;
    for (auto k : b.params) total += s.params[k].numel();
    b.flat = torch::empty({total}, s.params[b.params.front()].options().requires_grad(false));
  }
  if (overlap) {
    for (std::size_t k = 0; k < n; ++k) {
      auto acc = torch::autograd::impl::grad_accumulator(s.params[k]);
      if (!acc) throw std::invalid_argument("GradientSynchronizer: parameter " + std::to_string(k) + " is not a leaf");
      s.hook_keys.push_back(acc->add_post_hook(std::make_unique<GradReadyHook>(state_, k)));
      s.accumulators.push_back(std::move(acc));
    }
  }
  if (s.async != nullptr && overlap && comm.world_size() > 1) {
    s.progress_thread = std::thread([st = state_.get()] { st->progress_loop(); });
  }
}

GradientSynchronizer::~GradientSynchronizer() {
  auto& s = *state_;
  if (s.progress_thread.joinable()) {
    {
      std::lock_guard lock(s.mu);
      s.progress_stop = true;
    }
    s.progress_cv.notify_one();
    s.progress_thread.join();
  }
  for (std::size_t k = 0; k < s.accumulators.size(); ++k) s.accumulators[k]->del_post_hook(s.hook_keys[k]);
}

void GradientSynchronizer::prepare(bool enabled) {
  auto& s = *state_;
  std::lock_guard lock(s.mu);
  if (s.prepared) throw std::logic_error("GradientSynchronizer::prepare() called twice without finish()");
  s.prepared = true;
  s.active = enabled && s.comm->world_size() > 1;
  s.next_launch = 0;
  s.sq_parts.clear();
  s.sq_cpu = 0;
  std::fill(s.ready.begin(), s.ready.end(), 0);
  for (auto& b : s.buckets) {
    b.pending = b.params.size();
    b.launched = false;
    b.mean_already = false;
    b.complete = false;
    b.op.reset();
  }
}

void GradientSynchronizer::finish() {
  auto& s = *state_;
  std::lock_guard lock(s.mu);
  if (!s.prepared) throw std::logic_error("GradientSynchronizer::finish() without prepare()");
  s.prepared = false;
  s.launched_in_backward = 0;
  if (!s.active) {
    // Local step (or a single rank): the gradient is this rank's own; just measure it.
    double sq = 0;
    for (const auto& p : s.params)
      if (p.grad().defined()) sq += TorchBackend::squared_norm(p.grad());
    s.sq_norm = s.reduced_sq_norm = sq;
    return;
  }
  s.active = false;
  // Gradients whose hook did not fire (no overlap, or unused this step) are copied now; buckets
  // still go out in bucket order so every rank issues the same sequence of collectives.
  for (std::size_t k = 0; k < s.params.size(); ++k) {
    if (!s.ready[k]) {
      s.copy_in(k);
      s.ready[k] = 1;
      --s.buckets[s.bucket_of[k]].pending;
    }
  }
  s.launched_in_backward = s.next_launch;
  s.launch_ready();
  const auto t0 = Clock::now();
  for (auto& b : s.buckets) {
    if (b.op && !b.complete) b.op->wait();
    b.complete = true;
  }
  s.in_flight = 0;
  if (s.progress_error) std::rethrow_exception(std::exchange(s.progress_error, nullptr));
  s.comm_s += std::chrono::duration<double>(Clock::now() - t0).count();
  const double inv_world = 1.0 / s.comm->world_size();
  double reduced_sq = 0;
  std::vector<torch::Tensor> reduced_parts;
  for (auto& b : s.buckets) {
    if (!b.mean_already) b.flat.mul_(inv_world);
    b.op.reset();
    if (b.flat.device().is_cpu())
      reduced_sq += TorchBackend::squared_norm(b.flat);
    else
      reduced_parts.push_back(torch::dot(b.flat, b.flat));
    for (std::size_t j = 0; j < b.params.size(); ++j) {
      auto& p = s.params[b.params[j]];
      auto mean = b.flat.narrow(0, b.offsets[j], p.numel()).view(p.sizes());
      if (p.is_contiguous()) {
        p.mutable_grad() = mean;  // a view into the bucket: no copy back (layouts agree)
      } else if (p.grad().defined()) {
        p.mutable_grad().copy_(mean);  // e.g. channels-last weights: keep the parameter's layout
      } else {
        p.mutable_grad() = torch::empty_like(p).copy_(mean);  // in the parameter's layout
      }
    }
  }
  double sq = s.sq_cpu;
  for (const auto& part : s.sq_parts) sq += part.item<double>();
  s.sq_norm = sq;
  for (const auto& part : reduced_parts) reduced_sq += part.item<double>();
  s.reduced_sq_norm = reduced_sq;
}

double GradientSynchronizer::local_grad_sq_norm() const { return state_->sq_norm; }
double GradientSynchronizer::reduced_grad_sq_norm() const { return state_->reduced_sq_norm; }
double GradientSynchronizer::comm_seconds() const { return state_->comm_s; }
std::size_t GradientSynchronizer::buckets_launched_during_backward() const { return state_->launched_in_backward; }
std::size_t GradientSynchronizer::bucket_count() const { return state_->buckets.size(); }
std::vector<std::size_t> GradientSynchronizer::bucket_param_indices(std::size_t bucket) const {
  return state_->buckets.at(bucket).params;
}

}  // namespace batchlab::realtrain

// Prefetching loader: worker threads claim steps in order, build whole batches off the
// trainer's thread, and park them in a bounded map keyed by step; next() hands them out in
// step order. At most `prefetch` batches are claimed but not yet taken, which bounds memory.
#include <chrono>
#include <condition_variable>
#include <exception>
#include <map>
#include <mutex>
#include <stdexcept>
#include <thread>

#include "realtrain/data/rng.h"
#include "realtrain/data/source.h"

namespace batchlab::data {

void ExampleSource::write_tokens(std::int64_t, bool, std::mt19937_64&, std::int64_t*) const {
  throw std::logic_error("ExampleSource: " + description() + " holds images, not token sequences");
}

struct Loader::Impl {
  std::shared_ptr<const ExampleSource> source;
  ShardedSampler sampler;
  bool train;
  std::uint64_t seed;
  int prefetch;
  std::int64_t example_numel;  // floats per image, or tokens per sequence
  bool sequences;

  std::mutex mu;
  std::condition_variable work_cv, ready_cv;
  std::int64_t next_claim, next_return;
  std::map<std::int64_t, Batch> ready;
  std::map<std::int64_t, std::exception_ptr> failed;
  bool stop = false;
  double waited_seconds = 0;
  std::vector<std::thread> workers;

  Impl(std::shared_ptr<const ExampleSource> s, ShardedSampler sm, bool tr, std::uint64_t sd, int pf,
       std::int64_t start)
      : source(std::move(s)), sampler(std::move(sm)), train(tr), seed(sd), prefetch(pf),
        sequences(source->sequence_length() > 0), next_claim(start), next_return(start) {
    example_numel = sequences ? source->sequence_length() : source->shape().numel();
  }

  Batch build(std::int64_t step, const std::vector<std::int64_t>& indices) const {
    Batch b;
    b.step = step;
    b.count = static_cast<std::int64_t>(indices.size());
    const auto total = static_cast<std::size_t>(b.count * example_numel);
    if (sequences) {
      b.tokens.resize(total);
    } else {
      b.images.resize(total);
      b.labels.resize(static_cast<std::size_t>(b.count));
    }
    for (std::int64_t k = 0; k < b.count; ++k) {
      const std::int64_t index = indices[static_cast<std::size_t>(k)];
      // The augmentation (or window placement) of an example depends on (seed, step, index)
      // only: not on the thread that builds it, the rank that reads it or its slot in the batch.
      std::mt19937_64 rng(hash_seed(seed, static_cast<std::uint64_t>(step), static_cast<std::uint64_t>(index)));
      const auto at = static_cast<std::size_t>(k * example_numel);
      if (sequences)
        source->write_tokens(index, train, rng, &b.tokens[at]);
      else
        b.labels[static_cast<std::size_t>(k)] = source->write_example(index, train, rng, &b.images[at]);
    }
    return b;
  }

  void work() {
    for (;;) {
      std::int64_t step;
      std::vector<std::int64_t> indices;
      {
        std::unique_lock lock(mu);
        work_cv.wait(lock, [&] { return stop || next_claim - next_return < prefetch; });
        if (stop) return;
        step = next_claim++;
        indices = sampler.indices(step);  // the sampler caches its permutation: under the lock
      }
      try {
        Batch b = build(step, indices);
        std::lock_guard lock(mu);
        ready.emplace(step, std::move(b));
      } catch (...) {
        std::lock_guard lock(mu);
        failed.emplace(step, std::current_exception());
      }
      ready_cv.notify_all();
    }
  }
};

Loader::Loader(std::shared_ptr<const ExampleSource> source, ShardedSampler sampler, bool train, std::uint64_t seed,
               int threads, int prefetch, std::int64_t start_step) {
  if (!source) throw std::invalid_argument("Loader: no example source");
  if (threads < 1) throw std::invalid_argument("Loader: threads must be >= 1, got " + std::to_string(threads));
  if (prefetch < 1) throw std::invalid_argument("Loader: prefetch must be >= 1, got " + std::to_string(prefetch));
  if (start_step < 0) throw std::invalid_argument("Loader: negative start step " + std::to_string(start_step));
  impl_ = std::make_unique<Impl>(std::move(source), std::move(sampler), train, seed, prefetch, start_step);
  impl_->workers.reserve(static_cast<std::size_t>(threads));
  Impl* m = impl_.get();
  for (int t = 0; t < threads; ++t) m->workers.emplace_back([m] { m->work(); });
}

Loader::~Loader() {
  {
    std::lock_guard lock(impl_->mu);
    impl_->stop = true;
  }
  impl_->work_cv.notify_all();
  // A worker in the middle of a batch finishes it (write_example has no cancellation point).
  for (auto& t : impl_->workers) t.join();
}

Batch Loader::next() {
  Impl& m = *impl_;
  std::unique_lock lock(m.mu);
  const std::int64_t step = m.next_return;
  const auto t0 = std::chrono::steady_clock::now();
  m.ready_cv.wait(lock, [&] { return m.ready.count(step) > 0 || m.failed.count(step) > 0; });
  m.waited_seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (auto f = m.failed.find(step); f != m.failed.end()) std::rethrow_exception(f->second);
  auto it = m.ready.find(step);
  Batch b = std::move(it->second);
  m.ready.erase(it);
  ++m.next_return;
  lock.unlock();
  m.work_cv.notify_all();
  return b;
}

double Loader::wait_seconds() const {
  std::lock_guard lock(impl_->mu);
  return impl_->waited_seconds;
}

}  // namespace batchlab::data

// Landscapes of the sampled mode: where stochastic gradients come from.
//
// A landscape knows its dimension, its parameter groups (layers: contiguous slices of the
// parameter vector, the unit of LARS/LAMB trust ratios), an initial point drawn from an RNG,
// its training loss, the test metric the target applies to, a stochastic gradient at batch B
// (mean over the batch, batchlab's convention) and, where known, the optimal loss.
//
// Each simulated worker owns a BatchStream: its RNG and, for finite sums, its own permutation of
// the training set, consumed without replacement and reshuffled at each epoch.
#pragma once

#include <Eigen/Core>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "optim/config.h"
#include "sim/rng.h"
#include "sim/trial.h"

namespace batchlab::sim {

struct BatchStream {
  explicit BatchStream(Rng r) : rng(std::move(r)) {}
  Rng rng;
  std::vector<std::int64_t> perm;  // finite sums: current epoch's order
  std::size_t pos = 0;             // next unused position in perm
  std::int64_t epochs = 0;         // completed shuffles
  // The next `batch` example indices of an n-example set: without replacement within an epoch;
  // a batch that runs past the end takes the rest, reshuffles, and continues.
  void next_batch(std::int64_t n, std::int64_t batch, std::vector<std::int64_t>& out);
};

struct Group {
  std::string name;
  std::int64_t offset = 0;
  std::int64_t size = 0;
  bool is_bias = false;  // excluded from weight decay and layer adaptation
  // Row-major matrix shape of the group's parameters (empty: a vector); Shampoo reads it.
  std::vector<std::int64_t> shape = {};
};

class Landscape {
 public:
  virtual ~Landscape() = default;
  virtual std::int64_t dim() const = 0;
  virtual const std::vector<Group>& groups() const = 0;
  virtual Eigen::VectorXd initial_point(Rng& rng) const = 0;
  // Training objective (NQM: the exact loss 1/2 theta' H theta).
  virtual double loss(const Eigen::VectorXd& theta) const = 0;
  // The metric the target applies to (NQM: the loss; finite sums: a test-set quantity).
  virtual double metric(const Eigen::VectorXd& theta) const = 0;
  virtual std::string metric_name() const = 0;
  // Stochastic gradient at batch `batch`, written into g (resized by the caller to dim()).
  virtual void gradient(const Eigen::VectorXd& theta, std::int64_t batch, BatchStream& stream,
                        Eigen::VectorXd& g) const = 0;
  // Exact full-batch training gradient (tests: finite differences).
  virtual void full_gradient(const Eigen::VectorXd& theta, Eigen::VectorXd& g) const = 0;
  virtual std::optional<double> optimum_loss() const { return std::nullopt; }
  // Diagonal curvature estimate per parameter (> 0), for the "precond" rule.
  virtual Eigen::VectorXd curvature_diagonal() const = 0;
  // Training-set size for finite sums (0 for the NQM, whose noise is sampled).
  virtual std::int64_t train_examples() const { return 0; }
};

// Throws optim::ConfigError for an unknown kind or bad sizes.
std::unique_ptr<Landscape> make_landscape(const LandscapeConfig& cfg);
void validate_landscape(const LandscapeConfig& cfg);

}  // namespace batchlab::sim

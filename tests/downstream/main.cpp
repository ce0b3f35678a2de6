// Minimises 1/2 |w|^2 with heavy-ball momentum through the installed batchlab::optim.
#include <cstdio>

#include "optim/backend_eigen.h"
#include "optim/optimizer.h"

int main() {
  batchlab::optim::OptimizerConfig cfg;
  cfg.name = "momentum";
  cfg.momentum = 0.9;
  batchlab::optim::Optimizer<batchlab::optim::EigenD> opt(cfg, {{"w"}});
  Eigen::VectorXd w = Eigen::VectorXd::Ones(4);
  for (int t = 0; t < 200; ++t) {
    Eigen::VectorXd g = w;
    opt.step({w}, {g}, 0.1);
  }
  std::printf("downstream: |w| after 200 momentum steps = %.3g\n", w.norm());
  return w.norm() < 1e-3 ? 0 : 1;
}

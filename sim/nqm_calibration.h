// A noisy quadratic model built from what was measured on a real network (`batchlab calibrate`;
// the design and its justification are in docs/calibration.md).
//
// Inputs (plain numbers; realtrain/curvature.h measures them): the n = parameters-dimensional
// Hessian's top-k eigenvalues h_1..h_k with the gradient noise along their eigenvectors
// c_i = v_i' Sigma v_i, the SLQ density of the rest (nodes theta_j, weights w_j summing to 1 over
// the n - k dimensional complement), the noise trace of the complement tr(P Sigma P), and the
// loss gaps at initialisation and at the target.
//
// The NQM (sim/nqm.h), one dimension per measured direction or group of directions:
//  * top: k dimensions (h_i, c_i), multiplicity 1;
//  * tail: one dimension per positive SLQ node, standing for m_j = (n - k) w_j eigen-directions of
//    curvature theta_j. Non-positive nodes (negative curvature, which a network's Hessian has
//    plenty of at initialisation, or nodes at 0) have no quadratic model: they are dropped, and
//    their count and trace are reported;
//  * tail noise per direction c(theta) = a theta^beta, with beta such that the tail's
//    noise-weighted mean curvature is the measured one,
//      sum_j m_j theta_j c_j / sum_j m_j c_j = tr(P H P Sigma) / tr(P Sigma P),
//    and a such that the tail carries exactly the measured tr(P Sigma P);
//  * initial error per direction E[(theta_0 - theta*)_i^2] = sigma h_i^-gamma over every kept
//    direction, with gamma and sigma such that the NQM starts with the real loss gap and the real
//    squared gradient norm:
//      1/2 sum m h s0 = L(theta_0) - L_floor,   sum m h^2 s0 = |G|^2,
//    so its initial B_simple = tr(Sigma) / |G|^2 is the measured one. gamma = 0 is Zhang et al.'s
//    isotropic initial error; gamma > 0 puts more of it into flat directions, which is what a
//    gradient small relative to the loss gap says (|G|^2 / 2 gap = the gap's mean curvature);
//  * target: the real loss at the target accuracy, as a gap, L_target - L_floor.
// Both exponents solve "a weighted mean of h equals a measured ratio" by bisection on [-4, 4]
// (the mean is increasing in the exponent); a ratio outside what the measured spectrum allows is
// met at the nearer end of that range and flagged.
// A group of m directions enters the analytic NQM as one dimension (h, m c, m s0): exact, since
// the second moments are linear in (s0, c) (sim/nqm.h).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "sim/nqm.h"

namespace batchlab::sim {

struct SpectrumMeasurement {
  std::int64_t parameters = 0;
  std::vector<double> top_h, top_c;                // descending h
  std::vector<double> tail_nodes, tail_weights;    // SLQ of P H P; weights sum to 1
  double tail_trace_sigma = 0.0;                   // tr(P Sigma P)
  double tail_trace_h_sigma = 0.0;                 // tr(P H P Sigma)
  double grad_sq = 0.0;                            // |G|^2 at the measured point, > 0
  double loss_gap_init = 0.0;                      // L(theta_0) - L_floor, > 0
  double loss_gap_target = 0.0;                    // L_target - L_floor, in (0, loss_gap_init)
};

struct CalibratedNqm {
  std::shared_ptr<const NqmSpectrum> spectrum;  // folded: c and s0 already multiplied by multiplicity
  std::vector<double> multiplicity;              // eigen-directions per NQM dimension
  int top_dimensions = 0;                        // the first top_dimensions are the top-k
  double s0_sigma = 0.0, s0_gamma = 0.0;         // E[delta^2](h) = sigma h^-gamma per direction
  bool s0_gamma_clamped = false;                 // |G|^2 not reachable within gamma in [-4, 4]
  double target = 0.0;                           // NQM expected-loss target
  double trace_h_positive = 0.0;                 // tr(H+) over the kept directions
  double noise_a = 0.0, noise_beta = 1.0;        // tail c(theta) = a theta^beta
  bool noise_beta_clamped = false;               // tail ratio not reachable within beta in [-4, 4]
  double dropped_directions = 0.0, dropped_trace = 0.0;  // non-positive curvature, not modelled
  // The NQM's own noise scales at initialisation (E over the isotropic theta_0):
  //   B_simple = sum c / sum h^2 s0,  B_noise = sum h c / sum h^3 s0
  double initial_b_simple = 0.0, initial_b_noise = 0.0;
};

// Throws std::invalid_argument naming the offending input (sizes, signs, gaps).
CalibratedNqm calibrate_nqm(const SpectrumMeasurement& m);

}  // namespace batchlab::sim

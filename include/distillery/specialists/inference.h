#pragma once
/// @file specialists/inference.h
/// Combining a generalist with its specialists at test time (Hinton et al. 2015, §5): for
/// each test case, the specialists whose subset holds one of the generalist's top-n classes
/// are active, and the prediction is the full distribution q = softmax(z) over C classes that
/// minimises
///
///     F(z) = KL(p_g || q) + sum over active m of KL(p_m || q_m),
///
/// where q_m is q reduced to S_m + dustbin (dustbin mass = the sum of q outside S_m). Solved
/// for many test cases at once, as tensors, with per-case masks and convergence.

#include <torch/types.h>

#include <cstdint>
#include <type_traits>
#include <vector>

#include "distillery/data/dataset.h"
#include "distillery/model.h"
#include "distillery/specialists/clustering.h"
#include "distillery/option_fields.h"
#include "distillery/specialists/specialist.h"

namespace distillery::specialists {

/// How F is minimised; both start at z = log p_g and both never increase F.
enum class CombineMethod {
  /// The majorise-minimise (EM) update for this objective:
  /// q <- (p_g + q * sum_m [p_m / q_m] expanded to C classes) / (1 + |A|), which is the
  /// gradient step z <- z + log(1 - g / ((1 + |A|) q)) with g = dF/dz. Each step decreases F
  /// (it minimises a majoriser of F), and it converges in a few steps. The default.
  kMultiplicative,
  /// Gradient descent on z with the diagonal preconditioner 1 / q (so that rarely predicted
  /// classes move as fast as likely ones) and a step size per case that grows by 1.5 after
  /// a step that decreases F enough (Armijo) and halves, the step refused, otherwise.
  kGradient,
};
/// The name table of CombineMethod: "multiplicative", "gradient".
const EnumNames<CombineMethod>& combine_method_names();

/// Settings of the combination.
struct CombineOptions {
  /// The generalist's top-n classes decide the active specialists (paper: n = 1); in [1, C].
  TORCH_ARG(int64_t, top_n) = 1;
  /// Iteration cap, >= 1; cases not converged by then keep their last (best) iterate.
  TORCH_ARG(int64_t, max_iterations) = 200;
  /// A case has converged when max_k |dF/dz_k| < tolerance; > 0.
  TORCH_ARG(double, tolerance) = 1e-7;
  /// The update rule.
  TORCH_ARG(CombineMethod, method) = CombineMethod::kMultiplicative;
  /// Keep F of every case after every iteration in `Combination::objective_history`.
  TORCH_ARG(bool, record_objective) = false;
};

/// The field table of the options a config's "specialists" section holds (option_fields.h);
/// `record_objective` is for callers only. `top_n` must also be at most C.
template <typename Options, typename Visitor,
          std::enable_if_t<std::is_same_v<std::decay_t<Options>, CombineOptions>, int> = 0>
void visit_fields(Options& o, Visitor& v) {
  v.number("top_n", o.top_n(), Bounds::at_least(1),
           "the generalist's top-n classes pick the active specialists");
  v.number("max_iterations", o.max_iterations(), Bounds::closed(1, 1000000),
           "iteration cap of the combination");
  v.number("tolerance", o.tolerance(), Bounds::open(0, 1),
           "a case has converged when max |dF/dz| is below it");
  v.choice("method", o.method(), combine_method_names(), "how F is minimised");
}

/// Result of `combine_specialists` for B test cases, C classes and M specialists.
struct Combination {
  /// `[B, C]` float64, the combined distribution q; exactly p_g where no specialist is active.
  torch::Tensor probabilities;
  /// `[B, M]` bool, which specialists were active for each case.
  torch::Tensor active;
  /// `[B]` int64, iterations each case took (0 with no active specialist).
  torch::Tensor iterations;
  /// `[B]` bool, whether each case met the tolerance within the iteration cap.
  torch::Tensor converged;
  /// With `record_objective`: `[I + 1, B]` float64, F at the start and after each of the I
  /// iterations run (0 for cases with no active specialist); undefined otherwise.
  torch::Tensor objective_history;
};

/// The active specialists: entry (b, m) is true when S_m holds one of the `top_n` classes of
/// highest generalist probability for case b. `generalist_log_probabilities` is `[B, C]`.
/// Returns `[B, M]` bool. Throws c10::Error if `top_n` is outside [1, C].
torch::Tensor active_specialists(const torch::Tensor& generalist_log_probabilities,
                                 const ClassSubsets& subsets, int64_t top_n);

/// F for each case at `log_q` (`[B, C]` normalised log-probabilities), in float64: the
/// objective above, with KL(p || q) = sum p (log p - log q) and 0 log 0 = 0.
/// @param specialist_log_probabilities one `[B, |S_m| + 1]` tensor per specialist, in the
///   order of `subsets` (the specialist's log_softmax output; last column the dustbin).
/// @param active `[B, M]` bool.
/// Throws c10::Error on mismatched shapes.
torch::Tensor combination_objective(const torch::Tensor& log_q,
                                    const torch::Tensor& generalist_log_probabilities,
                                    const std::vector<torch::Tensor>& specialist_log_probabilities,
                                    const ClassSubsets& subsets, const torch::Tensor& active);

/// Combines the generalist and specialists for B test cases (Hinton et al. 2015, §5):
/// finds the active specialists, then minimises F from z = log p_g for the cases with at least
/// one, all at once; the others keep q = p_g exactly.
/// @param generalist_log_probabilities `[B, C]` log_softmax of the generalist's logits.
/// @param specialist_log_probabilities one `[B, |S_m| + 1]` log_softmax per specialist.
/// Throws c10::Error if the shapes do not match `subsets`, the subsets are not disjoint
/// classes in [0, C), or an option is out of range.
Combination combine_specialists(const torch::Tensor& generalist_log_probabilities,
                                const std::vector<torch::Tensor>& specialist_log_probabilities,
                                const ClassSubsets& subsets,
                                const CombineOptions& options = CombineOptions());

/// The combined prediction for `images` (`[N, ...]` model inputs, not uint8 pixels): the generalist's and each specialist's
/// log_softmax, computed in batches of `batch_size` on `device` without autograd (the models are
/// put in eval mode), then `combine_specialists` over all N at once. `specialists[m].classes`
/// are the subsets.
/// Throws c10::Error as `combine_specialists`, or if a model's outputs do not fit.
Combination predict_with_specialists(const Model& generalist,
                                     const std::vector<Specialist>& specialists,
                                     const torch::Tensor& images, const CombineOptions& options,
                                     int64_t batch_size = 1000,
                                     torch::Device device = torch::kCPU);

/// `predict_with_specialists` for every example of `dataset`, each batch's model inputs from
/// `Dataset::inputs` (uint8 pixels normalised per batch). Throws as above.
Combination predict_with_specialists(const Model& generalist,
                                     const std::vector<Specialist>& specialists,
                                     const data::Dataset& dataset, const CombineOptions& options,
                                     int64_t batch_size = 1000,
                                     torch::Device device = torch::kCPU);

}  // namespace distillery::specialists

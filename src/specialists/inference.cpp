#include "distillery/specialists/inference.h"

#include <torch/torch.h>

#include <cmath>
#include <limits>

#include "distillery/metrics.h"
#include "distillery/specialists/specialist.h"

namespace distillery::specialists {

const EnumNames<CombineMethod>& combine_method_names() {
  static const EnumNames<CombineMethod> names{{{CombineMethod::kMultiplicative, "multiplicative"},
                                               {CombineMethod::kGradient, "gradient"}}};
  return names;
}
namespace {

const auto kF64 = torch::TensorOptions().dtype(torch::kFloat64);

// sum over the last dimension of p * (log p - log q), with 0 log 0 = 0.
torch::Tensor kl_terms(const torch::Tensor& p, const torch::Tensor& log_p,
                       const torch::Tensor& log_q) {
  return torch::where(p > 0, p * (log_p - log_q), torch::zeros({}, kF64)).sum(1);
}

// The objective's pieces for B cases, with every specialist's outputs side by side in
// K = sum_m (|S_m| + 1) columns.
struct Problem {
  torch::Tensor log_pg;     // [B, C]
  torch::Tensor pg;         // [B, C]
  torch::Tensor log_p;      // [B, K] specialists' log-probabilities
  torch::Tensor p_active;   // [B, K] specialists' probabilities, 0 where inactive
  torch::Tensor reduce;     // [C, K] 0/1: q_m = q @ reduce (per specialist block)
  torch::Tensor n_active;   // [B, 1] number of active specialists

  torch::Tensor reduced(const torch::Tensor& q) const {
    // A class group with no mass would make p / q_m infinite; the smallest double keeps
    // q * (p / q_m) = 0 there.
    return q.matmul(reduce).clamp_min(std::numeric_limits<double>::min());
  }
  torch::Tensor objective(const torch::Tensor& log_q) const {
    const auto log_qm = reduced(log_q.exp()).log();
    return kl_terms(pg, log_pg, log_q) + kl_terms(p_active, log_p, log_qm);
  }
  // dF/dz at q = softmax(z), [B, C]; `back` gets sum_m [p_m / q_m] expanded to C classes.
  torch::Tensor gradient(const torch::Tensor& q, torch::Tensor& back) const {
    back = (p_active / reduced(q)).matmul(reduce.t());
    return q * (1 + n_active) - pg - q * back;
  }
};

Problem make_problem(const torch::Tensor& generalist_log_probabilities,
                     const std::vector<torch::Tensor>& specialist_log_probabilities,
                     const ClassSubsets& subsets, const torch::Tensor& active) {
  TORCH_CHECK(generalist_log_probabilities.dim() == 2,
              "the generalist's log-probabilities must be [B, C], got ",
              generalist_log_probabilities.sizes());
  const int64_t cases = generalist_log_probabilities.size(0);
  const int64_t classes = generalist_log_probabilities.size(1);
  TORCH_CHECK(specialist_log_probabilities.size() == subsets.size(), "got ",
              specialist_log_probabilities.size(), " specialists' outputs for ", subsets.size(),
              " class subsets");
  TORCH_CHECK(active.dim() == 2 && active.size(0) == cases &&
                  active.size(1) == static_cast<int64_t>(subsets.size()),
              "active must be [", cases, ", ", subsets.size(), "], got ", active.sizes());
  Problem p;
  // Renormalised in float64: log-probabilities from float32 sum to 1 only to about 1e-7,
  // which would leave dF/dz (whose entries must sum to 0) above a tight tolerance.
  p.log_pg = torch::log_softmax(generalist_log_probabilities.to(torch::kCPU, torch::kFloat64), 1);
  p.pg = p.log_pg.exp();
  std::vector<torch::Tensor> blocks, log_ps, masks;
  for (std::size_t m = 0; m < subsets.size(); ++m) {
    const auto width = static_cast<int64_t>(subsets[m].size()) + 1;
    const auto& lp = specialist_log_probabilities[m];
    TORCH_CHECK(lp.dim() == 2 && lp.size(0) == cases && lp.size(1) == width, "specialist ", m,
                " has ", subsets[m].size(), " classes + dustbin, so its log-probabilities must be [",
                cases, ", ", width, "], got ", lp.sizes());
    blocks.push_back(torch::one_hot(dustbin_label_map(subsets[m], classes), width).to(kF64));
    log_ps.push_back(torch::log_softmax(lp.to(torch::kCPU, torch::kFloat64), 1));
    masks.push_back(active.select(1, static_cast<int64_t>(m)).unsqueeze(1).expand({cases, width}));
  }
  p.reduce = torch::cat(blocks, 1);
  p.log_p = torch::cat(log_ps, 1);
  p.p_active = torch::where(torch::cat(masks, 1).to(torch::kCPU), p.log_p.exp(),
                            torch::zeros({}, kF64));
  p.n_active = active.to(torch::kCPU, torch::kFloat64).sum(1, /*keepdim=*/true);
  return p;
}

Problem rows_of(const Problem& p, const torch::Tensor& rows) {
  return Problem{p.log_pg.index_select(0, rows), p.pg.index_select(0, rows),
                 p.log_p.index_select(0, rows),  p.p_active.index_select(0, rows),
                 p.reduce,                       p.n_active.index_select(0, rows)};
}

}  // namespace

torch::Tensor active_specialists(const torch::Tensor& generalist_log_probabilities,
                                 const ClassSubsets& subsets, int64_t top_n) {
  TORCH_CHECK(generalist_log_probabilities.dim() == 2,
              "the generalist's log-probabilities must be [B, C], got ",
              generalist_log_probabilities.sizes());
  const int64_t classes = generalist_log_probabilities.size(1);
  TORCH_CHECK(top_n >= 1 && top_n <= classes, "top_n must be in [1, ", classes, "], got ", top_n);
  const auto top = std::get<1>(generalist_log_probabilities.cpu().topk(top_n, 1));  // [B, n]
  std::vector<torch::Tensor> columns;
  for (const auto& subset : subsets) {
    columns.push_back(torch::isin(top, torch::tensor(subset, torch::kInt64)).any(1));
  }
  if (columns.empty()) {
    return torch::zeros({generalist_log_probabilities.size(0), 0}, torch::kBool);
  }
  return torch::stack(columns, 1);
}

torch::Tensor combination_objective(const torch::Tensor& log_q,
                                    const torch::Tensor& generalist_log_probabilities,
                                    const std::vector<torch::Tensor>& specialist_log_probabilities,
                                    const ClassSubsets& subsets, const torch::Tensor& active) {
  const auto p = make_problem(generalist_log_probabilities, specialist_log_probabilities, subsets,
                              active);
  TORCH_CHECK(log_q.sizes() == p.log_pg.sizes(), "log_q must be ", p.log_pg.sizes(), ", got ",
              log_q.sizes());
  return p.objective(log_q.to(torch::kCPU, torch::kFloat64));
}

namespace {

// The state of the minimisation over the cases with an active specialist.
struct Descent {
  explicit Descent(const Problem& p)
      : log_q(p.log_pg.clone()),
        objective(p.objective(log_q)),
        step(1.0 / (1.0 + p.n_active)),
        done(torch::zeros({p.log_pg.size(0)}, torch::kBool)),
        iterations(torch::zeros({p.log_pg.size(0)}, torch::kInt64)) {}
  torch::Tensor log_q;       // [count, C] z, kept normalised
  torch::Tensor objective;   // [count]
  torch::Tensor step;        // [count, 1], per case (gradient method)
  torch::Tensor done;        // [count] bool
  torch::Tensor iterations;  // [count] int64
};

// One iteration for the cases not yet done; false when every case has converged.
bool descend(const Problem& p, const CombineOptions& options, Descent& d) {
  const auto q = d.log_q.exp();
  torch::Tensor back;
  const auto g = p.gradient(q, back);
  d.done = d.done.logical_or(g.abs().amax(1) < options.tolerance());
  if (d.done.all().item<bool>()) return false;
  const auto running = d.done.logical_not();
  if (options.method() == CombineMethod::kMultiplicative) {
    const auto candidate = torch::log_softmax(((p.pg + q * back) / (1 + p.n_active)).log(), 1);
    d.log_q = torch::where(running.unsqueeze(1), candidate, d.log_q);
    if (options.record_objective()) d.objective = p.objective(d.log_q);
  } else {
    const auto direction = g / q.clamp_min(std::numeric_limits<double>::min());
    const auto candidate = torch::log_softmax(d.log_q - d.step * direction, 1);
    const auto candidate_objective = p.objective(candidate);
    const auto decrease = (d.step.squeeze(1) * (g * direction).sum(1)) * 1e-4;
    const auto accept = running.logical_and(candidate_objective <= d.objective - decrease);
    d.log_q = torch::where(accept.unsqueeze(1), candidate, d.log_q);
    d.objective = torch::where(accept, candidate_objective, d.objective);
    d.step = torch::where(accept.unsqueeze(1), d.step * 1.5, d.step * 0.5);
    // A step too small to change anything: stop (reported as not converged).
    d.done = d.done.logical_or(d.step.squeeze(1) < 1e-20);
  }
  d.iterations += running.to(torch::kInt64);
  return true;
}

}  // namespace

Combination combine_specialists(const torch::Tensor& generalist_log_probabilities,
                                const std::vector<torch::Tensor>& specialist_log_probabilities,
                                const ClassSubsets& subsets, const CombineOptions& options) {
  TORCH_CHECK(options.max_iterations() >= 1, "max_iterations must be >= 1, got ",
              options.max_iterations());
  TORCH_CHECK(options.tolerance() > 0 && std::isfinite(options.tolerance()),
              "tolerance must be > 0, got ", options.tolerance());
  const auto active =
      active_specialists(generalist_log_probabilities, subsets, options.top_n());
  const auto all = make_problem(generalist_log_probabilities, specialist_log_probabilities,
                                subsets, active);
  const int64_t cases = all.log_pg.size(0);
  Combination out;
  out.active = active;
  // Exactly p_g (as given) where no specialist is active.
  out.probabilities = generalist_log_probabilities.to(torch::kCPU, torch::kFloat64).exp();
  out.iterations = torch::zeros({cases}, torch::kInt64);
  out.converged = torch::ones({cases}, torch::kBool);
  const auto rows = torch::nonzero(all.n_active.squeeze(1) > 0).flatten();
  std::vector<torch::Tensor> history;
  auto record = [&](const torch::Tensor& values) {
    if (!options.record_objective()) return;
    history.push_back(torch::zeros({cases}, kF64).index_copy_(0, rows, values));
  };
  if (rows.numel() == 0) {
    if (options.record_objective()) out.objective_history = torch::zeros({1, cases}, kF64);
    return out;
  }
  const auto p = rows_of(all, rows);
  Descent d(p);
  record(d.objective);
  for (int64_t it = 0; it < options.max_iterations(); ++it) {
    if (!descend(p, options, d)) break;
    record(d.objective);
  }
  const auto& log_q = d.log_q;
  const auto& iterations = d.iterations;
  const auto q = log_q.exp();
  torch::Tensor back;
  out.probabilities.index_copy_(0, rows, q);
  out.iterations.index_copy_(0, rows, iterations);
  out.converged.index_copy_(0, rows, p.gradient(q, back).abs().amax(1) < options.tolerance());
  if (options.record_objective()) out.objective_history = torch::stack(history);
  return out;
}

namespace {

// log_softmax of the model's logits over `inputs` (a tensor of model inputs or a data set).
template <typename Inputs>
torch::Tensor log_probabilities(const Model& model, const Inputs& inputs, int64_t batch_size,
                                torch::Device device) {
  model->eval();
  const auto logits = compute_logits(model.forward_function(), inputs, batch_size, device);
  return torch::log_softmax(logits, 1);
}

template <typename Inputs>
Combination predict(const Model& generalist, const std::vector<Specialist>& specialists,
                    const Inputs& inputs, const CombineOptions& options, int64_t batch_size,
                    torch::Device device) {
  const auto general = log_probabilities(generalist, inputs, batch_size, device);
  ClassSubsets subsets;
  std::vector<torch::Tensor> outputs;
  for (const auto& s : specialists) {
    subsets.push_back(s.classes);
    outputs.push_back(log_probabilities(s.model, inputs, batch_size, device));
  }
  return combine_specialists(general, outputs, subsets, options);
}

}  // namespace

Combination predict_with_specialists(const Model& generalist,
                                     const std::vector<Specialist>& specialists,
                                     const torch::Tensor& images, const CombineOptions& options,
                                     int64_t batch_size, torch::Device device) {
  return predict(generalist, specialists, images, options, batch_size, device);
}

Combination predict_with_specialists(const Model& generalist,
                                     const std::vector<Specialist>& specialists,
                                     const data::Dataset& dataset, const CombineOptions& options,
                                     int64_t batch_size, torch::Device device) {
  return predict(generalist, specialists, dataset, options, batch_size, device);
}

}  // namespace distillery::specialists

#include "distillery/bias_correction.h"

#include <torch/torch.h>

#include <cmath>

namespace distillery {

void shift_class_bias(torch::nn::Sequential& model, int64_t class_index, double delta) {
  torch::nn::LinearImpl* head = nullptr;
  for (auto& layer : *model) {
    if (auto* linear = layer.ptr()->as<torch::nn::Linear>()) head = linear;
  }
  TORCH_CHECK(head != nullptr && head->bias.defined(),
              "shift_class_bias needs a model whose last Linear layer has a bias");
  TORCH_CHECK(class_index >= 0 && class_index < head->bias.size(0), "class index ", class_index,
              " is outside [0, ", head->bias.size(0), ")");
  torch::NoGradGuard no_grad;
  head->bias[class_index].add_(delta);
}

BiasShift choose_bias_shift(const torch::Tensor& heldout_logits, const torch::Tensor& labels,
                            int64_t class_index, const std::vector<double>& candidates) {
  TORCH_CHECK(heldout_logits.dim() == 2 && labels.dim() == 1 &&
                  heldout_logits.size(0) == labels.size(0),
              "heldout_logits must be [N, C] and labels [N], got ", heldout_logits.sizes(), " and ",
              labels.sizes());
  TORCH_CHECK(!candidates.empty(), "choose_bias_shift needs at least one candidate");
  TORCH_CHECK(class_index >= 0 && class_index < heldout_logits.size(1), "class index ",
              class_index, " is outside [0, ", heldout_logits.size(1), ")");
  auto errors_with = [&](double delta) {
    auto shifted = heldout_logits.clone();
    shifted.select(1, class_index).add_(delta);
    return shifted.argmax(1).ne(labels).sum().item<int64_t>();
  };
  BiasShift best;
  best.errors_before = errors_with(0.0);
  bool first = true;
  for (const double delta : candidates) {
    const auto errors = errors_with(delta);
    if (first || errors < best.errors ||
        (errors == best.errors && std::abs(delta) < std::abs(best.delta))) {
      best.delta = delta;
      best.errors = errors;
      first = false;
    }
  }
  return best;
}

std::vector<double> default_bias_candidates() {
  std::vector<double> out;
  for (int i = 0; i <= 40; ++i) out.push_back(0.25 * i);
  return out;
}

}  // namespace distillery

#include "distillery/bias_correction.h"

#include <torch/torch.h>

#include <cmath>
#include <string>

namespace distillery {

void shift_class_bias(torch::nn::LinearImpl& head, int64_t class_index, double delta) {
  TORCH_CHECK(head.bias.defined(), "shift_class_bias: the output layer has no bias");
  TORCH_CHECK(std::isfinite(delta), "shift_class_bias: delta must be finite, got ", delta);
  const auto outputs = head.bias.size(0);
  TORCH_CHECK(class_index >= 0 && class_index < outputs, "shift_class_bias: class index ",
              class_index, " is outside [0, ", outputs, ") (the output layer's out_features)");
  torch::NoGradGuard no_grad;
  head.bias[class_index].add_(delta);
}

void shift_class_bias(const Model& model, int64_t class_index, double delta) {
  std::string head_name;
  torch::nn::LinearImpl* head = nullptr;
  for (const auto& item : model.module().named_modules()) {
    if (auto* linear = item.value()->as<torch::nn::Linear>()) {
      head = linear;
      head_name = item.key();
    }
  }
  TORCH_CHECK(head != nullptr, "shift_class_bias: the model has no torch::nn::Linear with a bias; "
              "pass its output layer explicitly");
  TORCH_CHECK(head->bias.defined(), "shift_class_bias: the model's last torch::nn::Linear (",
              head_name.empty() ? "the model itself" : "'" + head_name + "'",
              ") has no bias; pass its output layer explicitly");
  shift_class_bias(*head, class_index, delta);
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

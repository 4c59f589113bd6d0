#include "distillery/metrics.h"

#include <torch/torch.h>

namespace distillery {

torch::Tensor compute_logits(const LogitsFunction& logits_fn, const torch::Tensor& images,
                             int64_t batch_size, torch::Device device) {
  TORCH_CHECK(batch_size > 0, "batch_size must be > 0, got ", batch_size);
  torch::NoGradGuard no_grad;
  std::vector<torch::Tensor> parts;
  for (int64_t start = 0; start < images.size(0); start += batch_size) {
    const auto count = std::min(batch_size, images.size(0) - start);
    auto x = images.narrow(0, start, count).to(device, /*non_blocking=*/true);
    parts.push_back(logits_fn(x).to(torch::kCPU, torch::kFloat32));
  }
  TORCH_CHECK(!parts.empty(), "compute_logits needs at least one input");
  return torch::cat(parts, 0);
}

EvalResult evaluate(const LogitsFunction& logits_fn, const data::Dataset& dataset,
                    int64_t batch_size, torch::Device device) {
  TORCH_CHECK(dataset.labeled(), "evaluate needs a labeled data set");
  TORCH_CHECK(dataset.size() > 0, "evaluate needs a non-empty data set");
  const auto logits = compute_logits(logits_fn, dataset.images, batch_size, device);  // [N, C]
  TORCH_CHECK(logits.dim() == 2 && logits.size(1) == dataset.num_classes,
              "model produces logits of shape ", logits.sizes(), " but the data set has ",
              dataset.num_classes, " classes");
  EvalResult out;
  out.examples = dataset.size();
  out.errors = logits.argmax(1).ne(dataset.labels).sum().item<int64_t>();
  out.accuracy = 1.0 - static_cast<double>(out.errors) / static_cast<double>(out.examples);
  out.nll = torch::nll_loss(torch::log_softmax(logits, 1), dataset.labels).item<double>();
  return out;
}

}  // namespace distillery

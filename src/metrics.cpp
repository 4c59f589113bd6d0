#include "distillery/metrics.h"

#include "eval_mode.h"

#include <torch/torch.h>

#include <functional>

namespace distillery {

namespace {

// Logits of `logits_fn` over examples [0, n) in batches of `batch_size`, each batch's inputs
// from `batch_inputs(start, count)`; `[n, C]` float32 on the CPU.
torch::Tensor logits_in_batches(const LogitsFunction& logits_fn, int64_t n, int64_t batch_size,
                                const std::function<torch::Tensor(int64_t, int64_t)>& batch_inputs) {
  TORCH_CHECK(batch_size > 0, "batch_size must be > 0, got ", batch_size);
  torch::NoGradGuard no_grad;
  std::vector<torch::Tensor> parts;
  for (int64_t start = 0; start < n; start += batch_size) {
    const auto count = std::min(batch_size, n - start);
    parts.push_back(logits_fn(batch_inputs(start, count)).to(torch::kCPU, torch::kFloat32));
  }
  TORCH_CHECK(!parts.empty(), "compute_logits needs at least one input");
  return torch::cat(parts, 0);
}

}  // namespace

torch::Tensor compute_logits(const LogitsFunction& logits_fn, const torch::Tensor& images,
                             int64_t batch_size, torch::Device device) {
  TORCH_CHECK(images.scalar_type() != torch::kUInt8,
              "compute_logits got uint8 pixels ", images.sizes(), ", not model inputs: pass the "
              "data set (compute_logits(model, set)), which normalises each batch, or "
              "set.inputs(rows)");
  return logits_in_batches(logits_fn, images.size(0), batch_size, [&](int64_t start, int64_t count) {
    return images.narrow(0, start, count).to(device, /*non_blocking=*/true);
  });
}

torch::Tensor compute_logits(const LogitsFunction& logits_fn, const data::Dataset& dataset,
                             int64_t batch_size, torch::Device device) {
  return logits_in_batches(logits_fn, dataset.size(), batch_size,
                           [&](int64_t start, int64_t count) {
                             return dataset.inputs(start, count, device);
                           });
}

EvalResult evaluate_logits(const torch::Tensor& logits, const torch::Tensor& labels) {
  TORCH_CHECK(logits.dim() == 2 && labels.dim() == 1 && logits.size(0) == labels.size(0) &&
                  logits.size(0) > 0,
              "evaluate_logits needs logits [N, C] and labels [N] with N > 0, got ",
              logits.sizes(), " and ", labels.sizes());
  EvalResult out;
  out.examples = logits.size(0);
  const auto wrong = logits.argmax(1).ne(labels);  // [N] bool
  out.errors = wrong.sum().item<int64_t>();
  // One division of two exact integers is the correctly rounded quotient, so 174 / 300 is the
  // double nearest 0.58 and prints as 0.58; 1 - 126 / 300 would print as 0.5800000000000001.
  out.accuracy = static_cast<double>(out.examples - out.errors) / static_cast<double>(out.examples);
  out.nll = torch::nll_loss(torch::log_softmax(logits.to(torch::kFloat64), 1), labels)
                .item<double>();
  const auto per_class = torch::bincount(labels.masked_select(wrong), {}, logits.size(1));
  out.errors_per_class.assign(per_class.data_ptr<int64_t>(),
                              per_class.data_ptr<int64_t>() + per_class.numel());
  return out;
}

EvalResult evaluate(const LogitsFunction& logits_fn, const data::Dataset& dataset,
                    int64_t batch_size, torch::Device device) {
  TORCH_CHECK(dataset.labeled(), "evaluate needs a labeled data set");
  TORCH_CHECK(dataset.size() > 0, "evaluate needs a non-empty data set");
  const auto logits = compute_logits(logits_fn, dataset, batch_size, device);  // [N, C]
  TORCH_CHECK(logits.dim() == 2 && logits.size(1) == dataset.num_classes,
              "model produces logits of shape ", logits.sizes(), " but the data set has ",
              dataset.num_classes, " classes");
  return evaluate_logits(logits, dataset.labels);
}

EvalResult evaluate(const Model& model, const data::Dataset& dataset, int64_t batch_size,
                    torch::Device device) {
  detail::EvalModeGuard eval(model.ptr());
  return evaluate(model.forward_function(), dataset, batch_size, device);
}

torch::Tensor compute_logits(const Model& model, const torch::Tensor& images, int64_t batch_size,
                             torch::Device device) {
  detail::EvalModeGuard eval(model.ptr());
  return compute_logits(model.forward_function(), images, batch_size, device);
}

torch::Tensor compute_logits(const Model& model, const data::Dataset& dataset,
                             int64_t batch_size, torch::Device device) {
  detail::EvalModeGuard eval(model.ptr());
  return compute_logits(model.forward_function(), dataset, batch_size, device);
}

}  // namespace distillery

#include "distillery/models.h"

#include <torch/csrc/jit/frontend/tracer.h>
#include <torch/torch.h>

namespace distillery {
namespace {

constexpr int64_t kMaxWidth = 65536;

void check_widths(const std::vector<int64_t>& widths, const char* what) {
  for (auto w : widths) {
    TORCH_CHECK(w > 0 && w <= kMaxWidth, what, " must be in [1, 65536], got ", w);
  }
}

void check_dropout(double p) {
  TORCH_CHECK(p >= 0.0 && p < 1.0, "dropout must be in [0, 1), got ", p);
}

}  // namespace

torch::nn::Sequential make_mlp(const MLPOptions& options, InputShape input, int64_t num_classes) {
  TORCH_CHECK(num_classes > 0, "num_classes must be positive, got ", num_classes);
  check_widths(options.hidden(), "MLP hidden width");
  check_dropout(options.dropout());
  torch::nn::Sequential net;
  net->push_back(torch::nn::Flatten());
  int64_t width = input.channels * input.height * input.width;
  for (const auto hidden : options.hidden()) {
    net->push_back(torch::nn::Linear(width, hidden));
    net->push_back(torch::nn::ReLU());
    if (options.dropout() > 0) net->push_back(torch::nn::Dropout(options.dropout()));
    width = hidden;
  }
  net->push_back(torch::nn::Linear(width, num_classes));
  return net;
}

torch::Tensor MaxPool2x2Impl::forward(const torch::Tensor& x) {
  TORCH_CHECK(x.dim() == 4 && x.size(2) >= 2 && x.size(3) >= 2,
              "MaxPool2x2 needs [B, C, H, W] input with H, W >= 2, got shape ", x.sizes());
  // Training, and tracing (the ONNX export, the multiply-add count), take the plain operator.
  if ((torch::GradMode::is_enabled() && x.requires_grad()) || torch::jit::tracer::isTracing()) {
    return torch::max_pool2d(x, 2);
  }
  using torch::indexing::Slice;
  const int64_t h = x.size(2) / 2 * 2, w = x.size(3) / 2 * 2;
  auto sub = [&](int64_t row, int64_t col) {
    return x.index({Slice(), Slice(), Slice(row, h, 2), Slice(col, w, 2)});
  };
  return torch::maximum(torch::maximum(sub(0, 0), sub(0, 1)), torch::maximum(sub(1, 0), sub(1, 1)));
}

void MaxPool2x2Impl::pretty_print(std::ostream& stream) const {
  stream << "distillery::MaxPool2x2()";
}

torch::nn::Sequential make_convnet(const ConvNetOptions& options, InputShape input,
                                   int64_t num_classes) {
  TORCH_CHECK(num_classes > 0, "num_classes must be positive, got ", num_classes);
  TORCH_CHECK(!options.channels().empty(), "ConvNet needs at least one convolution channel count");
  check_widths(options.channels(), "ConvNet channel count");
  check_widths(options.hidden(), "ConvNet hidden width");
  check_dropout(options.dropout());
  const int64_t k = options.kernel_size();
  TORCH_CHECK(k >= 1 && k % 2 == 1, "ConvNet kernel_size must be odd and >= 1, got ", k);
  torch::nn::Sequential net;
  int64_t channels = input.channels, height = input.height, width = input.width;
  for (const auto out : options.channels()) {
    TORCH_CHECK(height >= 2 && width >= 2, "ConvNet has too many pooling stages for a ",
                input.height, "x", input.width, " image");
    net->push_back(torch::nn::Conv2d(
        torch::nn::Conv2dOptions(channels, out, k).padding(k / 2).bias(!options.batch_norm())));
    if (options.batch_norm()) net->push_back(torch::nn::BatchNorm2d(out));
    net->push_back(torch::nn::ReLU());
    net->push_back(MaxPool2x2());
    channels = out;
    height /= 2;
    width /= 2;
  }
  net->push_back(torch::nn::Flatten());
  int64_t features = channels * height * width;
  for (const auto hidden : options.hidden()) {
    if (options.dropout() > 0) net->push_back(torch::nn::Dropout(options.dropout()));
    net->push_back(torch::nn::Linear(features, hidden));
    net->push_back(torch::nn::ReLU());
    features = hidden;
  }
  if (options.dropout() > 0) net->push_back(torch::nn::Dropout(options.dropout()));
  net->push_back(torch::nn::Linear(features, num_classes));
  return net;
}

}  // namespace distillery

// The layers of export_onnx: convolution, BatchNorm (folded where it can be), linear, pooling
// and dropout.
#include <torch/torch.h>

#include "onnx_ops.h"

namespace distillery::detail {
namespace {

using torch::jit::Node;

// aten::conv2d(input, weight, bias?, stride[2], padding[2], dilation[2], groups), or
// aten::_convolution(input, weight, bias?, stride, padding, dilation, transposed,
// output_padding, groups, ...) with `groups_at` 8, as the tracer records it.
void convolution(OnnxTranslation& t, const Node* n, std::size_t groups_at) {
  const auto weight = weight_of(t, n, 1);
  if (!weight.defined() || weight.dim() != 4) refuse(n, "without a 4-D weight");
  if (const auto padding = torch::jit::toIValue(n->input(4)); padding && padding->isString()) {
    refuse(n, "with padding \"" + padding->toStringRef() + "\"; give the padding in pixels");
  }
  const auto stride = ints_of(n, 3), padding = ints_of(n, 4), dilation = ints_of(n, 5);
  // Its own copies of the weight and bias when no other layer shares them, so that a BatchNorm
  // after it can fold into them.
  const bool own = n->input(1)->uses().size() == 1 &&
                   (is_none(n, 2) || n->input(2)->uses().size() == 1);
  OnnxConv conv;
  conv.foldable = own;
  conv.weight = own ? t.graph.initializer("conv_weight", weight) : onnx_name(t, n->input(1));
  if (!is_none(n, 2)) {
    conv.bias = own ? t.graph.initializer("conv_bias", weight_of(t, n, 2)) : onnx_name(t, n->input(2));
  }
  const auto out = name_output(t, n, "conv");
  std::vector<std::string> inputs{onnx_name(t, n->input(0)), conv.weight};
  if (!conv.bias.empty()) inputs.push_back(conv.bias);
  auto& node = t.graph.node("Conv", inputs, {out});
  const auto pair = [](const std::vector<int64_t>& v) {
    return v.size() == 1 ? std::vector<int64_t>{v[0], v[0]} : v;
  };
  const auto p = pair(padding);
  set_attribute(node, "kernel_shape", std::vector<int64_t>{weight.size(2), weight.size(3)});
  set_attribute(node, "strides", pair(stride));
  set_attribute(node, "pads", std::vector<int64_t>{p[0], p[1], p[0], p[1]});
  set_attribute(node, "dilations", pair(dilation));
  set_attribute(node, "group", int_of(n, groups_at));
  t.convs[out] = conv;
}

void conv2d(OnnxTranslation& t, const Node* n) { convolution(t, n, 6); }

void convolution_op(OnnxTranslation& t, const Node* n) {
  if (bool_of(n, 6)) refuse(n, "as a transposed convolution, which the export does not write yet");
  convolution(t, n, 8);
}

// Folds y = (x - mean) / sqrt(var + eps) * gamma + beta into the convolution that makes x.
void fold_into_conv(OnnxTranslation& t, OnnxConv& conv, const std::string& conv_output,
                    const torch::Tensor& gamma, const torch::Tensor& beta,
                    const torch::Tensor& mean, const torch::Tensor& var, double eps) {
  const auto channels = t.graph.tensor(conv.weight).size(0);
  const auto scale = gamma.to(torch::kCPU, torch::kDouble) /
                     (var.to(torch::kCPU, torch::kDouble) + eps).sqrt();
  if (conv.bias.empty()) {
    conv.bias = t.graph.initializer("conv_bias", torch::zeros({channels}));
    t.graph.node_at(t.graph.producer(conv_output)).inputs.push_back(conv.bias);
  }
  // Both references after the last new initialiser (which may move the others).
  auto& weight = t.graph.tensor(conv.weight);
  auto& bias = t.graph.tensor(conv.bias);
  weight = (weight.to(torch::kDouble) * scale.view({-1, 1, 1, 1})).to(torch::kFloat32);
  bias = ((bias.to(torch::kDouble) - mean.to(torch::kCPU, torch::kDouble)) * scale +
          beta.to(torch::kCPU, torch::kDouble)).to(torch::kFloat32);
}

// aten::batch_norm(input, weight?, bias?, running_mean?, running_var?, training, momentum,
// eps, cudnn_enabled).
void batch_norm(OnnxTranslation& t, const Node* n) {
  if (bool_of(n, 5)) refuse(n, "in training mode; the export runs the model in eval mode");
  auto mean = weight_of(t, n, 3), var = weight_of(t, n, 4);
  if (!mean.defined() || !var.defined()) {
    refuse(n, "without running statistics (track_running_stats false)");
  }
  auto gamma = weight_of(t, n, 1), beta = weight_of(t, n, 2);
  if (!gamma.defined()) gamma = torch::ones_like(mean);
  if (!beta.defined()) beta = torch::zeros_like(mean);
  const double eps = number_of(n, 7);
  const auto input = onnx_name(t, n->input(0));
  const auto conv = t.convs.find(input);
  if (conv != t.convs.end() && conv->second.foldable && n->input(0)->uses().size() == 1) {
    fold_into_conv(t, conv->second, input, gamma, beta, mean, var, eps);
    t.names[n->output()] = input;
    ++t.folded_batch_norms;
    return;
  }
  const auto out = name_output(t, n, "batch_norm");
  auto& node = t.graph.node("BatchNormalization",
                            {input, t.graph.initializer("bn_scale", gamma),
                             t.graph.initializer("bn_bias", beta), t.graph.initializer("bn_mean", mean),
                             t.graph.initializer("bn_var", var)},
                            {out});
  set_attribute(node, "epsilon", static_cast<float>(eps));
}

// aten::t(weight) of a parameter is that parameter transposed (the tracer records linear as
// t and addmm); of anything else, a Transpose.
void transpose(OnnxTranslation& t, const Node* n) {
  if (const auto it = t.weights.find(n->input(0)); it != t.weights.end()) {
    t.weights[n->output()] = it->second.t().contiguous();
    return;
  }
  auto& node = t.graph.node("Transpose", {onnx_name(t, n->input(0))}, {name_output(t, n, "t")});
  set_attribute(node, "perm", std::vector<int64_t>{1, 0});
}

// aten::addmm(bias, input [N, in], weight [in, out], beta, alpha): Gemm.
void addmm(OnnxTranslation& t, const Node* n) {
  auto& node = t.graph.node("Gemm", {onnx_name(t, n->input(1)), onnx_name(t, n->input(2)),
                                     onnx_name(t, n->input(0))},
                            {name_output(t, n, "linear")});
  set_attribute(node, "beta", static_cast<float>(number_of(n, 3)));
  set_attribute(node, "alpha", static_cast<float>(number_of(n, 4)));
}

// aten::matmul / aten::mm (input, weight): MatMul.
void matmul(OnnxTranslation& t, const Node* n) {
  t.graph.node("MatMul", {onnx_name(t, n->input(0)), onnx_name(t, n->input(1))},
               {name_output(t, n, "matmul")});
}

// aten::linear(input [N, in], weight [out, in], bias? [out]).
void linear(OnnxTranslation& t, const Node* n) {
  if (sizes_of(n, n->input(0)).size() != 2) refuse(n, "on an input that is not [N, features]");
  std::vector<std::string> inputs{onnx_name(t, n->input(0)), onnx_name(t, n->input(1))};
  if (!is_none(n, 2)) inputs.push_back(onnx_name(t, n->input(2)));
  auto& node = t.graph.node("Gemm", inputs, {name_output(t, n, "linear")});
  set_attribute(node, "transB", int64_t{1});
}

std::vector<int64_t> pads_of(const std::vector<int64_t>& padding) {
  const auto p = padding.size() == 1 ? std::vector<int64_t>{padding[0], padding[0]} : padding;
  return {p[0], p[1], p[0], p[1]};
}

std::vector<int64_t> pair_of(const std::vector<int64_t>& v) {
  return v.size() == 1 ? std::vector<int64_t>{v[0], v[0]} : v;
}

// A pooling node of `op` from (input, kernel[2], stride[2] (empty: the kernel), padding[2], ...).
OnnxNode& pool(OnnxTranslation& t, const Node* n, const char* op, const char* hint) {
  const auto kernel = pair_of(ints_of(n, 1));
  const auto stride = ints_of(n, 2);
  auto& node = t.graph.node(op, {onnx_name(t, n->input(0))}, {name_output(t, n, hint)});
  set_attribute(node, "kernel_shape", kernel);
  set_attribute(node, "strides", stride.empty() ? kernel : pair_of(stride));
  set_attribute(node, "pads", pads_of(ints_of(n, 3)));
  return node;
}

// aten::max_pool2d(input, kernel[2], stride[2], padding[2], dilation[2], ceil_mode).
void max_pool2d(OnnxTranslation& t, const Node* n) {
  auto& node = pool(t, n, "MaxPool", "max_pool");
  set_attribute(node, "dilations", pair_of(ints_of(n, 4)));
  set_attribute(node, "ceil_mode", int64_t{bool_of(n, 5)});
}

// aten::avg_pool2d(input, kernel[2], stride[2], padding[2], ceil_mode, count_include_pad,
// divisor_override?).
void avg_pool2d(OnnxTranslation& t, const Node* n) {
  if (!is_none(n, 6)) refuse(n, "with divisor_override, which ONNX AveragePool lacks");
  auto& node = pool(t, n, "AveragePool", "avg_pool");
  set_attribute(node, "ceil_mode", int64_t{bool_of(n, 4)});
  set_attribute(node, "count_include_pad", int64_t{bool_of(n, 5)});
}

// aten::adaptive_avg_pool2d(input, output_size[2]): global, or an even division of the input.
void adaptive_avg_pool2d(OnnxTranslation& t, const Node* n) {
  const auto size = pair_of(ints_of(n, 1));
  const auto in = sizes_of(n, n->input(0));
  const auto input = onnx_name(t, n->input(0));
  if (size[0] == 1 && size[1] == 1) {
    t.graph.node("GlobalAveragePool", {input}, {name_output(t, n, "global_avg_pool")});
    return;
  }
  const auto h = in[in.size() - 2], w = in[in.size() - 1];
  if (h % size[0] != 0 || w % size[1] != 0) {
    refuse(n, "to " + std::to_string(size[0]) + " x " + std::to_string(size[1]) + " from " +
                  std::to_string(h) + " x " + std::to_string(w) + ", which is not an even division");
  }
  const std::vector<int64_t> kernel{h / size[0], w / size[1]};
  auto& node = t.graph.node("AveragePool", {input}, {name_output(t, n, "avg_pool")});
  set_attribute(node, "kernel_shape", kernel);
  set_attribute(node, "strides", kernel);
}

// Every dropout: the identity in inference (its `train` argument is the third).
void dropout(OnnxTranslation& t, const Node* n) {
  if (bool_of(n, 2)) refuse(n, "in training mode; the export runs the model in eval mode");
  alias(t, n);
  ++t.removed_dropouts;
}

}  // namespace

void add_layer_translators(std::unordered_map<std::string, OnnxTranslator>& table) {
  table["aten::conv2d"] = conv2d;
  table["aten::_convolution"] = convolution_op;
  table["aten::t"] = transpose;
  table["aten::addmm"] = addmm;
  table["aten::matmul"] = matmul;
  table["aten::mm"] = matmul;
  table["aten::batch_norm"] = batch_norm;
  table["aten::linear"] = linear;
  table["aten::max_pool2d"] = max_pool2d;
  table["aten::avg_pool2d"] = avg_pool2d;
  table["aten::adaptive_avg_pool2d"] = adaptive_avg_pool2d;
  for (const char* name : {"aten::dropout", "aten::dropout_", "aten::feature_dropout",
                           "aten::feature_dropout_", "aten::alpha_dropout", "aten::alpha_dropout_",
                           "aten::feature_alpha_dropout", "aten::feature_alpha_dropout_"}) {
    table[name] = dropout;
  }
}

}  // namespace distillery::detail

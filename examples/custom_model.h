#pragma once
// Models of one's own for examples/custom_model.cpp (and its test): a small residual network
// as the student and a plain ConvNet as the teacher, both written as a user of LibTorch writes
// them (structs with registered submodules, not a torch::nn::Sequential), for 1 x 28 x 28
// images and 10 classes.

#include <torch/torch.h>

#include <cstdint>

namespace custom {

/// Two 3x3 convolutions with BatchNorm and a skip connection (He et al. 2016). With `stride` 2
/// or a change of width, the skip is a 1x1 convolution with BatchNorm.
struct BasicBlockImpl : torch::nn::Module {
  BasicBlockImpl(int64_t in_channels, int64_t out_channels, int64_t stride) {
    using torch::nn::Conv2dOptions;
    conv1 = register_module("conv1", torch::nn::Conv2d(Conv2dOptions(in_channels, out_channels, 3)
                                                           .stride(stride).padding(1).bias(false)));
    bn1 = register_module("bn1", torch::nn::BatchNorm2d(out_channels));
    conv2 = register_module("conv2", torch::nn::Conv2d(Conv2dOptions(out_channels, out_channels, 3)
                                                           .padding(1).bias(false)));
    bn2 = register_module("bn2", torch::nn::BatchNorm2d(out_channels));
    if (stride != 1 || in_channels != out_channels) {
      skip_conv = register_module(
          "skip_conv",
          torch::nn::Conv2d(Conv2dOptions(in_channels, out_channels, 1).stride(stride).bias(false)));
      skip_bn = register_module("skip_bn", torch::nn::BatchNorm2d(out_channels));
    }
  }
  torch::Tensor forward(const torch::Tensor& x) {
    auto out = torch::relu(bn1(conv1(x)));
    out = bn2(conv2(out));
    const auto skip = skip_conv ? skip_bn(skip_conv(x)) : x;
    return torch::relu(out + skip);
  }
  torch::nn::Conv2d conv1{nullptr}, conv2{nullptr}, skip_conv{nullptr};
  torch::nn::BatchNorm2d bn1{nullptr}, bn2{nullptr}, skip_bn{nullptr};
};
TORCH_MODULE(BasicBlock);

/// The student: a 3x3 stem (8 channels), a block at 8 channels, a block down to 14 x 14 at
/// 16 channels, global average pooling and a Linear head. 5,122 parameters.
struct TinyResNetImpl : torch::nn::Module {
  TinyResNetImpl() {
    stem = register_module(
        "stem", torch::nn::Conv2d(torch::nn::Conv2dOptions(1, 8, 3).padding(1).bias(false)));
    stem_bn = register_module("stem_bn", torch::nn::BatchNorm2d(8));
    block1 = register_module("block1", BasicBlock(8, 8, 1));
    block2 = register_module("block2", BasicBlock(8, 16, 2));
    head = register_module("head", torch::nn::Linear(16, 10));
  }
  torch::Tensor forward(const torch::Tensor& x) {
    auto out = torch::relu(stem_bn(stem(x)));  // [B, 8, 28, 28]
    out = block2(block1(out));                  // [B, 16, 14, 14]
    return head(out.mean({2, 3}));              // [B, 10]
  }
  torch::nn::Conv2d stem{nullptr};
  torch::nn::BatchNorm2d stem_bn{nullptr};
  BasicBlock block1{nullptr}, block2{nullptr};
  torch::nn::Linear head{nullptr};
};
TORCH_MODULE(TinyResNet);

/// The teacher: two 3x3 convolutions (32 and 64 channels) each with ReLU and 2x2 max-pooling,
/// then a 128-wide hidden layer with dropout and a Linear head.
struct ConvTeacherImpl : torch::nn::Module {
  ConvTeacherImpl() {
    using torch::nn::Conv2dOptions;
    conv1 = register_module("conv1", torch::nn::Conv2d(Conv2dOptions(1, 32, 3).padding(1)));
    conv2 = register_module("conv2", torch::nn::Conv2d(Conv2dOptions(32, 64, 3).padding(1)));
    hidden = register_module("hidden", torch::nn::Linear(64 * 7 * 7, 128));
    dropout = register_module("dropout", torch::nn::Dropout(0.3));
    head = register_module("head", torch::nn::Linear(128, 10));
  }
  torch::Tensor forward(const torch::Tensor& x) {
    auto out = torch::max_pool2d(torch::relu(conv1(x)), 2);    // [B, 32, 14, 14]
    out = torch::max_pool2d(torch::relu(conv2(out)), 2);       // [B, 64, 7, 7]
    return head(dropout(torch::relu(hidden(out.flatten(1)))));  // [B, 10]
  }
  torch::nn::Conv2d conv1{nullptr}, conv2{nullptr};
  torch::nn::Linear hidden{nullptr}, head{nullptr};
  torch::nn::Dropout dropout{nullptr};
};
TORCH_MODULE(ConvTeacher);

}  // namespace custom

#pragma once
/// @file zoo/zoo.h
/// The CIFAR model zoo by name: the teacher and student networks the knowledge-distillation
/// literature benchmarks with on CIFAR-100 (RepDistiller, Tian et al. 2020; mdistiller, Zhao et
/// al. 2022), built as their reference definitions (same layers, same parameter counts, same
/// state-dict names), with the input channels taken from the image shape so that 1-channel
/// 28 x 28 images (Fashion-MNIST) work too.
///
/// | name | family | parameters at 100 classes |
/// | --- | --- | --- |
/// | resnet8, resnet20, resnet32, resnet56, resnet110 | ResNet (zoo/resnet.h), filters 16-16-32-64 | 83,892; 278,324; 472,756; 861,620; 1,736,564 |
/// | resnet8x4, resnet32x4 | ResNet, filters 32-64-128-256 | 1,233,540; 7,433,860 |
/// | wrn_16_2, wrn_40_1, wrn_40_2 | WideResNet (zoo/wide_resnet.h) | 703,284; 569,780; 2,255,156 |
/// | mobilenetv2 | MobileNetV2 (zoo/mobilenet_v2.h), width 0.5 | 812,836 |
/// | shufflev2 | ShuffleNetV2 (zoo/shufflenet_v2.h), net size 1 | 1,355,528 |
/// | vgg8, vgg13 | VGG with BatchNorm (zoo/vgg.h) | 3,965,028; 9,462,180 |
///
/// Example:
///     Model teacher = zoo::build_zoo_model("resnet32x4", {3, 32, 32}, 100);
///     Model student = zoo::build_zoo_model("resnet8x4", {3, 32, 32}, 100);

#include <cstdint>
#include <string>
#include <vector>

#include "distillery/model.h"
#include "distillery/model_size.h"  // InputShape

namespace distillery {
namespace zoo {

/// Names of the zoo's models, in the order of the table above ("resnet8", ..., "vgg13").
std::vector<std::string> zoo_model_names();

/// Builds the zoo model `name` for `input` images (its channels become the stem's input
/// channels) and `num_classes` outputs, with fresh weights (initialised as its reference), in
/// training mode. The model maps `[B, input.channels, input.height, input.width]` float images
/// to `[B, num_classes]` logits.
/// Throws std::invalid_argument "unknown zoo model '<name>' (known: resnet8, ...)" for an
/// unknown name; c10::Error on a non-positive class count, channel count or image size, or an
/// image smaller than 8 x 8 for vgg8 and vgg13 (their three poolings).
Model build_zoo_model(const std::string& name, InputShape input, int64_t num_classes);

}  // namespace zoo
}  // namespace distillery

#include "distillery/zoo/zoo.h"

#include <functional>
#include <stdexcept>
#include <utility>

#include "distillery/zoo/mobilenet_v2.h"
#include "distillery/zoo/resnet.h"
#include "distillery/zoo/shufflenet_v2.h"
#include "distillery/zoo/vgg.h"
#include "distillery/zoo/wide_resnet.h"

namespace distillery {
namespace zoo {
namespace {

using Builder = std::function<Model(int64_t input_channels, int64_t classes)>;

Builder resnet(int64_t depth, std::vector<int64_t> filters) {
  return [depth, filters](int64_t in, int64_t classes) -> Model {
    return ResNet(ResNetOptions().depth(depth).filters(filters).input_channels(in).num_classes(
        classes));
  };
}

Builder wide_resnet(int64_t depth, int64_t widen_factor) {
  return [depth, widen_factor](int64_t in, int64_t classes) -> Model {
    return WideResNet(WideResNetOptions().depth(depth).widen_factor(widen_factor)
                          .input_channels(in).num_classes(classes));
  };
}

Builder vgg(std::vector<std::vector<int64_t>> blocks) {
  return [blocks](int64_t in, int64_t classes) -> Model {
    return VGG(VGGOptions().blocks(blocks).input_channels(in).num_classes(classes));
  };
}

// The zoo in the order of the table in zoo.h.
const std::vector<std::pair<std::string, Builder>>& zoo() {
  static const std::vector<std::pair<std::string, Builder>> models{
      {"resnet8", resnet(8, {16, 16, 32, 64})},
      {"resnet20", resnet(20, {16, 16, 32, 64})},
      {"resnet32", resnet(32, {16, 16, 32, 64})},
      {"resnet56", resnet(56, {16, 16, 32, 64})},
      {"resnet110", resnet(110, {16, 16, 32, 64})},
      {"resnet8x4", resnet(8, {32, 64, 128, 256})},
      {"resnet32x4", resnet(32, {32, 64, 128, 256})},
      {"wrn_16_2", wide_resnet(16, 2)},
      {"wrn_40_1", wide_resnet(40, 1)},
      {"wrn_40_2", wide_resnet(40, 2)},
      {"mobilenetv2",
       [](int64_t in, int64_t classes) -> Model {
         return MobileNetV2(MobileNetV2Options().input_channels(in).num_classes(classes));
       }},
      {"shufflev2",
       [](int64_t in, int64_t classes) -> Model {
         return ShuffleNetV2(ShuffleNetV2Options().input_channels(in).num_classes(classes));
       }},
      {"vgg8", vgg(vgg8_blocks())},
      {"vgg13", vgg(vgg13_blocks())},
  };
  return models;
}

}  // namespace

std::vector<std::string> zoo_model_names() {
  std::vector<std::string> names;
  for (const auto& item : zoo()) names.push_back(item.first);
  return names;
}

Model build_zoo_model(const std::string& name, InputShape input, int64_t num_classes) {
  for (const auto& [known, build] : zoo()) {
    if (known != name) continue;
    TORCH_CHECK(num_classes > 0, name, ": num_classes must be positive, got ", num_classes);
    TORCH_CHECK(input.channels > 0 && input.height > 0 && input.width > 0, name,
                ": the input shape must be positive, got ", input.channels, "x", input.height,
                "x", input.width);
    const bool pooled = name.rfind("vgg", 0) == 0;
    TORCH_CHECK(!pooled || (input.height >= 8 && input.width >= 8), name,
                " needs images of at least 8 x 8 pixels (three 2 x 2 poolings), got ",
                input.height, "x", input.width);
    return build(input.channels, num_classes);
  }
  std::string list;
  for (const auto& item : zoo()) list += (list.empty() ? "" : ", ") + item.first;
  throw std::invalid_argument("unknown zoo model '" + name + "' (known: " + list + ")");
}

}  // namespace zoo
}  // namespace distillery

// The model registry by JSON spec and model files rebuilt from their spec
// (app/model_specs.h). The tests loop over the registry: a registered architecture is picked up
// without editing them.

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <string>
#include <utility>
#include <vector>

#include "distillery/app/json_fields.h"
#include "distillery/app/model_specs.h"
#include "distillery/zoo/zoo.h"
#include "model_files.h"
#include "test_util.h"

using distillery::InputShape;

namespace {

// A minimal spec for every registered architecture (defaults for the rest).
nlohmann::json spec_for(const std::string& name) { return {{"architecture", name}}; }

std::string known_architectures() {
  std::string known;
  for (const auto& name : distillery::list_models()) known += (known.empty() ? "" : ", ") + name;
  return known;
}

std::string fixture(const std::string& name) {
  return std::string(DISTILLERY_FIXTURE_DIR) + "/" + name;
}

TEST(ModelSpecs, EveryRegisteredArchitectureMapsImagesToLogits) {
  const auto names = distillery::list_models();
  ASSERT_FALSE(names.empty());
  EXPECT_TRUE(std::is_sorted(names.begin(), names.end()));
  for (const auto& name : names) {
    torch::manual_seed(0);
    auto model = distillery::build_model(spec_for(name), InputShape{1, 28, 28}, 7);
    model->eval();
    const auto out = model(torch::randn({3, 1, 28, 28}));
    EXPECT_EQ(out.sizes(), (std::vector<int64_t>{3, 7})) << name;
    EXPECT_GT(distillery::count_parameters(model.module()), 0) << name;
    EXPECT_GT(distillery::count_multiply_adds(model, InputShape{1, 28, 28}), 0) << name;
  }
}

TEST(ModelSpecs, EveryRegisteredArchitectureRoundTripsThroughItsFile) {
  for (const auto& name : distillery::list_models()) {
    distillery::test::TempDir dir;
    torch::manual_seed(1);
    const InputShape input{1, 12, 12};
    auto model = distillery::build_model(spec_for(name), input, 4);
    model->train();
    model(torch::randn({6, 1, 12, 12}));  // moves any running statistics
    model->eval();
    const auto x = torch::randn({5, 1, 12, 12});
    const auto expected = model(x);
    distillery::save_model(dir.file("m.pt"), model,
                           distillery::model_record(spec_for(name), input, 4));
    torch::manual_seed(2);  // other initial weights: the file's must replace them all
    auto loaded = distillery::load_model(dir.file("m.pt"));
    EXPECT_EQ(loaded.spec, spec_for(name)) << name;
    EXPECT_EQ(loaded.num_classes, 4) << name;
    EXPECT_EQ(loaded.input.height, 12) << name;
    EXPECT_FALSE(loaded.model->is_training()) << name;
    EXPECT_TRUE(torch::equal(loaded.model(x), expected)) << name;
  }
}

TEST(ModelSpecs, ARegisteredArchitectureIsBuiltByNameAndListed) {
  const std::string name = "test_linear_classifier";
  distillery::register_model(name, [](const nlohmann::json& options, const std::string& path,
                                      InputShape input, int64_t classes) {
    distillery::ObjectReader r(options, path);
    const auto bias = r.get("bias", true);
    r.finish();
    torch::nn::Sequential net(torch::nn::Flatten(),
                              torch::nn::Linear(torch::nn::LinearOptions(
                                  input.channels * input.height * input.width, classes)
                                                    .bias(bias)));
    return net;
  });
  const auto names = distillery::list_models();
  EXPECT_NE(std::find(names.begin(), names.end(), name), names.end());
  auto net = distillery::build_model({{"architecture", name}, {"bias", false}}, {1, 2, 2}, 3);
  EXPECT_EQ(distillery::count_parameters(net.module()), 4 * 3);
  EXPECT_EQ(distillery::test::error_of_type<std::invalid_argument>([&] {
              distillery::register_model(name, [](const nlohmann::json&, const std::string&,
                                                  InputShape, int64_t) {
                return torch::nn::Sequential();
              });
            }),
            "model architecture 'test_linear_classifier' is already registered");
  EXPECT_EQ(distillery::test::error_of_type<distillery::ConfigError>([&] {
              distillery::build_model({{"architecture", name}, {"bias", 1}}, {1, 2, 2}, 3, "m");
            }),
            "m.bias: expected a boolean, got number (1)");
}

TEST(ModelSpecs, UnknownArchitectureAndKeysAreConfigErrors) {
  try {
    distillery::build_model({{"architecture", "resnet9000"}}, {}, 10, "student.model");
    FAIL();
  } catch (const distillery::ConfigError& e) {
    EXPECT_EQ(std::string(e.what()), "student.model.architecture: unknown architecture "
                                     "'resnet9000' (known: " + known_architectures() + ")");
  }
  try {
    distillery::build_model({{"architecture", "mlp"}, {"hiden", {10}}}, {}, 10, "student.model");
    FAIL();
  } catch (const distillery::ConfigError& e) {
    EXPECT_STREQ(e.what(), "student.model.hiden: unknown key (known keys here: dropout, hidden)");
  }
  try {
    distillery::build_model({{"architecture", "mlp"}, {"hidden", "800"}}, {}, 10, "m");
    FAIL();
  } catch (const distillery::ConfigError& e) {
    EXPECT_STREQ(e.what(), "m.hidden: expected an array of integers, got string (\"800\")");
  }
}

TEST(ModelSpecs, SpecsMapOntoTheOptionsStructs) {
  torch::manual_seed(5);
  auto from_spec = distillery::build_model(
      {{"architecture", "convnet"}, {"channels", {3}}, {"kernel_size", 5}, {"hidden", {7}},
       {"dropout", 0.0}, {"batch_norm", false}},
      {1, 8, 8}, 2);
  torch::manual_seed(5);
  const auto options =
      distillery::ConvNetOptions().channels({3}).kernel_size(5).hidden({7}).dropout(0);
  auto from_options =
      distillery::make_convnet(distillery::ConvNetOptions(options).batch_norm(false), {1, 8, 8}, 2);
  const auto a = from_spec->named_parameters(), b = from_options->named_parameters();
  ASSERT_EQ(a.size(), b.size());
  for (const auto& item : a) EXPECT_TRUE(torch::equal(item.value(), b[item.key()])) << item.key();
}

TEST(ModelSpecs, LoadingFilesOfOtherKindsSaysUnderWhichKeyToGiveThem) {
  distillery::test::TempDir dir;
  distillery::test::write_bytes(dir.file("junk.pt"), {1, 2, 3, 4});
  const auto junk = distillery::test::runtime_error_of(
      [&] { distillery::load_model(dir.file("junk.pt")); });
  EXPECT_EQ(junk.rfind(dir.file("junk.pt") + ": not a distillery model file (", 0), 0u) << junk;
  EXPECT_NE(junk.find("); give a file written by distillery (run, train, specialists) or "
                      "distillery::save_model"),
            std::string::npos)
      << junk;
  EXPECT_EQ(distillery::test::runtime_error_of(
                [&] { distillery::load_model(fixture("state_dict_plain.pt")); }),
            fixture("state_dict_plain.pt") +
                ": this is a PyTorch state dict or other torch.save file, not a distillery model "
                "file; give it as \"weights\" together with \"model\" (its architecture), not "
                "as \"checkpoint\"");
  EXPECT_EQ(distillery::test::runtime_error_of(
                [&] { distillery::load_model(fixture("teacher_mlp.ts")); }),
            fixture("teacher_mlp.ts") + ": this is a TorchScript file, not a distillery model "
                                        "file; give it as \"torchscript\", not as \"checkpoint\"");
  EXPECT_EQ(distillery::test::runtime_error_of(
                [&] { distillery::specialists::load_specialist(fixture("teacher_mlp.ts")); }),
            fixture("teacher_mlp.ts") + ": this is a TorchScript file, not a distillery model "
                                        "file; give it as \"torchscript\", not as \"checkpoint\"");
}

TEST(ModelSpecs, AFileWhoseSpecDoesNotBuildIsDamaged) {
  distillery::test::TempDir dir;
  auto model = distillery::make_mlp(distillery::MLPOptions().hidden({4}), {}, 10);
  distillery::ModelRecord record;
  record.spec = R"({"architecture": "resnet9000"})";
  record.num_classes = 10;
  distillery::save_model(dir.file("m.pt"), model, record);
  EXPECT_EQ(distillery::test::runtime_error_of([&] { distillery::load_model(dir.file("m.pt")); }),
            dir.file("m.pt") + ": damaged model file: " + dir.file("m.pt") +
                ":spec.architecture: unknown architecture 'resnet9000' (known: " +
                known_architectures() + ")");
}

TEST(ModelSpecs, FileWithoutTheDataRecordStillLoadsAsUnknown) {
  distillery::test::TempDir dir;
  torch::manual_seed(4);
  const nlohmann::json spec = {{"architecture", "mlp"}, {"hidden", {4}}};
  auto model = distillery::build_model(spec, {}, 10);
  model->eval();
  distillery::test::write_model_file_without_data_record(dir.file("old.pt"), model, spec, {}, 10);
  auto loaded = distillery::load_model(dir.file("old.pt"));
  EXPECT_EQ(loaded.info.dataset, "unknown");
  EXPECT_TRUE(loaded.info.class_names.empty());
  EXPECT_FALSE(loaded.info.has_normalization());
  EXPECT_TRUE(loaded.metadata.is_null());
  const auto x = torch::randn({2, 1, 28, 28});
  EXPECT_TRUE(torch::equal(loaded.model(x), model(x)));
}

TEST(ModelSpecs, ASpecialistIsRebuiltFromItsFile) {
  distillery::test::TempDir dir;
  torch::manual_seed(6);
  const nlohmann::json spec = {{"architecture", "mlp"}, {"hidden", {5}}};
  const InputShape input{1, 3, 3};
  auto generalist = distillery::build_model(spec, input, 4);
  auto s = distillery::specialists::make_specialist(
      generalist, [&] { return distillery::Model(distillery::build_model(spec, input, 4)); }, 4,
      {0, 2});
  s.subset_share = 0.5;
  distillery::specialists::shift_dustbin_bias(s, 0.3);
  distillery::specialists::save_specialist(dir.file("s.pt"), s,
                                           distillery::model_record(spec, input, 4));
  auto loaded = distillery::specialists::load_specialist(dir.file("s.pt"));
  EXPECT_EQ(loaded.classes, (std::vector<int64_t>{0, 2}));
  EXPECT_DOUBLE_EQ(loaded.dustbin_bias, 0.3);
  const auto x = torch::randn({4, 1, 3, 3});
  torch::NoGradGuard no_grad;
  s.model->eval();
  EXPECT_TRUE(torch::equal(loaded.model->forward(x), s.model->forward(x)));
  // As a plain model file it is the generalist-shaped network, with the specialist's record.
  const auto plain = distillery::load_model(dir.file("s.pt"));
  EXPECT_EQ(plain.metadata.at("kind"), "specialist");
  EXPECT_EQ(plain.metadata.at("classes"), nlohmann::json({0, 2}));
}

TEST(ModelSpecs, ZooModelsAreBuiltByNameWithTheReferenceParameterCounts) {
  const auto names = distillery::list_models();
  for (const auto& name : distillery::zoo::zoo_model_names()) {
    EXPECT_NE(std::find(names.begin(), names.end(), name), names.end()) << name;
  }
  const InputShape cifar{3, 32, 32};
  const std::vector<std::pair<nlohmann::json, int64_t>> cases{
      {{{"architecture", "resnet20"}}, 278324},
      {{{"architecture", "wrn_40_2"}}, 2255156},
      {{{"architecture", "mobilenetv2"}}, 812836},
      {{{"architecture", "mobilenetv2"}, {"width", 0.5}}, 812836},
      {{{"architecture", "mobilenetv2"}, {"width", 1.0}}, 2353060},  // RepDistiller's, width 1
      {{{"architecture", "shufflev2"}}, 1355528}};
  for (const auto& [spec, parameters] : cases) {
    const auto model = distillery::build_model(spec, cifar, 100);
    EXPECT_EQ(distillery::count_parameters(model.module()), parameters) << spec.dump();
    EXPECT_EQ(model(torch::zeros({1, 3, 32, 32})).sizes(), (std::vector<int64_t>{1, 100}));
  }
  EXPECT_EQ(distillery::test::error_of_type<distillery::ConfigError>([&] {
              distillery::build_model({{"architecture", "resnet20"}, {"depth", 32}}, cifar, 100,
                                      "student.model");
            }),
            "student.model.depth: unknown key (resnet20 takes no options besides "
            "\"architecture\")");
  EXPECT_EQ(distillery::test::error_of_type<distillery::ConfigError>([&] {
              distillery::build_model({{"architecture", "mobilenetv2"}, {"widht", 1}}, cifar, 100,
                                      "m");
            }),
            "m.widht: unknown key (known keys here: width)");
}

TEST(ModelSpecs, AZooModelRoundTripsThroughItsFileWithItsOptions) {
  distillery::test::TempDir dir;
  torch::manual_seed(3);
  const InputShape cifar{3, 32, 32};
  const nlohmann::json spec = {{"architecture", "mobilenetv2"}, {"width", 0.25}};
  auto model = distillery::build_model(spec, cifar, 100);
  model->train();
  model(torch::randn({4, 3, 32, 32}));  // moves the running statistics
  model->eval();
  const auto x = torch::randn({2, 3, 32, 32});
  const auto expected = model(x);
  distillery::save_model(dir.file("m.pt"), model, distillery::model_record(spec, cifar, 100));
  torch::manual_seed(4);
  const auto loaded = distillery::load_model(dir.file("m.pt"));
  EXPECT_EQ(loaded.spec, spec);
  EXPECT_EQ(distillery::count_parameters(loaded.model.module()),
            distillery::count_parameters(model.module()));
  EXPECT_TRUE(torch::equal(loaded.model(x), expected));
}

}  // namespace

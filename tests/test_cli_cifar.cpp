// CIFAR data and augmentation end to end: the shipped configs/cifar100_*.json and
// examples/distill_cifar.cpp on tiny CIFAR binary files the tests write, and stored soft targets
// of augmented views (distillation.views) through the program.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "cli_util.h"
#include "test_util.h"

namespace fs = std::filesystem;
using distillery::test::CommandResult;
using distillery::test::run_command;
using distillery::test::slurp;
using distillery::test::TempDir;
using distillery::test::TinyRunTest;

namespace {

// `count` CIFAR records of `classes` classes: a bright square whose place and colour follow
// the class on a dark background, after `label_bytes` label bytes (2 for CIFAR-100).
std::vector<uint8_t> cifar_records(int64_t count, int64_t classes, int label_bytes, int64_t first) {
  std::vector<uint8_t> bytes;
  for (int64_t i = first; i < first + count; ++i) {
    const auto label = static_cast<uint8_t>(i % classes);
    for (int b = 0; b < label_bytes; ++b) bytes.push_back(b + 1 == label_bytes ? label : label / 5);
    const int64_t row = 4 + (label % 4) * 6, col = 4 + (label / 4 % 4) * 6;
    for (int64_t c = 0; c < 3; ++c) {
      for (int64_t y = 0; y < 32; ++y) {
        for (int64_t x = 0; x < 32; ++x) {
          const bool on = y >= row && y < row + 6 && x >= col && x < col + 6;
          bytes.push_back(static_cast<uint8_t>(on ? 128 + (label * 37 + c * 50) % 128 : (x + y) % 20));
        }
      }
    }
  }
  return bytes;
}

void write_tiny_cifar100(const std::string& dir, int64_t train, int64_t test) {
  fs::create_directories(dir);
  distillery::test::write_bytes(dir + "/train.bin", cifar_records(train, 100, 2, 0));
  distillery::test::write_bytes(dir + "/test.bin", cifar_records(test, 100, 2, 7));
}

void write_tiny_cifar10(const std::string& dir, int64_t per_batch, int64_t test) {
  fs::create_directories(dir);
  for (int b = 1; b <= 5; ++b) {
    distillery::test::write_bytes(dir + "/data_batch_" + std::to_string(b) + ".bin",
                                  cifar_records(per_batch, 10, 1, b * per_batch));
  }
  distillery::test::write_bytes(dir + "/test_batch.bin", cifar_records(test, 10, 1, 3));
}

nlohmann::json results_in(const std::string& out_dir) {
  return nlohmann::json::parse(slurp(out_dir + "/results.json"));
}

// The parameter counts the issue measured on the reference definitions, at 100 classes.
const std::map<std::string, int64_t> kReferenceParameters = {
    {"resnet32x4", 7433860}, {"resnet8x4", 1233540}, {"wrn_40_2", 2255156},
    {"wrn_16_2", 703284},    {"resnet56", 861620},   {"resnet20", 278324},
    {"shufflev2", 1355528}};

TEST(CliCifar, EveryShippedCifar100ConfigRunsOnTinyFiles) {
  TempDir dir;
  const auto data = dir.file("cifar100");
  write_tiny_cifar100(data, 48, 16);
  int configs = 0;
  for (const auto& entry : fs::directory_iterator(DISTILLERY_CONFIG_DIR)) {
    const auto name = entry.path().filename().string();
    if (name.rfind("cifar100_", 0) != 0) continue;
    ++configs;
    auto c = nlohmann::json::parse(slurp(entry.path().string()));
    // The literature's protocol, shortened: one epoch of batches of 16 on one thread.
    EXPECT_EQ(c.at("student").at("training").at("epochs"), 240) << name;
    EXPECT_EQ(c.at("student").at("training").at("lr_milestones"),
              nlohmann::json::array({150, 180, 210})) << name;
    for (const char* model : {"teacher", "student"}) {
      c[model]["training"]["epochs"] = 1;
      c[model]["training"]["batch_size"] = 16;
    }
    c["data"]["dir"] = data;
    c["data"]["heldout"] = 8;
    c["threads"] = 1;
    c["out_dir"] = dir.file("out_" + name);
    const auto config = dir.file(name);
    std::ofstream(config) << c.dump(2);
    const auto r = run_command(std::string(DISTILLERY_CLI) + " run " + config, dir);
    ASSERT_EQ(r.exit_code, 0) << name << "\n" << r.output;
    const auto results = results_in(c["out_dir"]);
    EXPECT_EQ(results.at("dataset"), "cifar100");
    const auto teacher = c.at("teacher").at("model").at("architecture").get<std::string>();
    const auto student = c.at("student").at("model").at("architecture").get<std::string>();
    EXPECT_EQ(results.at("teacher").at("parameters"), kReferenceParameters.at(teacher)) << name;
    EXPECT_EQ(results.at("student_distilled").at("parameters"), kReferenceParameters.at(student))
        << name;
    EXPECT_EQ(results.at("student_distilled").at("test_examples"), 16) << name;
    EXPECT_EQ(results.at("student_distilled").at("validation_examples"), 8) << name;
    EXPECT_EQ(results.at("student_distilled").at("errors_per_class").size(), 100u) << name;
  }
  EXPECT_EQ(configs, 4);
}

TEST(CliCifar, TheCifarExampleDistilsFromStoredViews) {
  TempDir dir;
  const auto data = dir.file("cifar10");
  write_tiny_cifar10(data, 8, 10);
  const auto r = run_command(std::string(DISTILLERY_CIFAR_EXAMPLE) + " " + data +
                                 " cifar10 1 0 resnet8 resnet8",
                             dir);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.stdout_text.find("teacher resnet8: 78042 parameters, test accuracy "),
            std::string::npos) << r.stdout_text;
  EXPECT_NE(r.stdout_text.find("student resnet8: 78042 parameters, validation accuracy "),
            std::string::npos) << r.stdout_text;
  const auto bad = run_command(std::string(DISTILLERY_CIFAR_EXAMPLE) + " " + dir.file("none"), dir);
  EXPECT_EQ(bad.exit_code, 1);
  EXPECT_NE(bad.output.find("fetch_data.sh cifar100"), std::string::npos) << bad.output;
}

TEST_F(TinyRunTest, AugmentedViewsAreStoredOnceAndReusedOnTheSecondRun) {
  config["student"]["training"]["crop_padding"] = 2;
  config["student"]["training"]["horizontal_flip"] = true;
  config["distillation"]["views"] = 2;
  auto r = cli("run " + config_path, config);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  auto results = results_in(out_dir);
  EXPECT_EQ(results.at("distillation").at("soft_targets"), "computed");
  EXPECT_EQ(results.at("distillation").at("views"), 2);
  EXPECT_GT(results.at("distillation").at("soft_targets_seconds").get<double>(), 0.0);
  // Version 2, two views of the 200 training images, 10 classes, with the views' parameters.
  EXPECT_EQ(fs::file_size(out_dir + "/soft_targets.bin"),
            72u + 2u * 200u * 10u * 4u + 32u + 2u * 200u * 5u * 8u);
  r = cli("run " + config_path, config);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  results = results_in(out_dir);
  EXPECT_EQ(results.at("distillation").at("soft_targets"), "stored");
  EXPECT_EQ(results.at("distillation").at("soft_targets_seconds"), 0.0);
  // Other views are not reused: they are computed again.
  config["distillation"]["views"] = 3;
  r = cli("run " + config_path, config);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(results_in(out_dir).at("distillation").at("soft_targets"), "computed");
  // Views need an augmentation, and no jitter.
  config["student"]["training"].erase("crop_padding");
  config["student"]["training"].erase("horizontal_flip");
  r = cli("run " + config_path, config);
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.output.find("distillation.views: 3 augmented views need an augmentation in "
                          "student.training (crop_padding, horizontal_flip or erasing_size), and "
                          "no jitter_pixels"),
            std::string::npos) << r.output;
}

}  // namespace

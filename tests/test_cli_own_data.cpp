// One's own images through the program: data.dataset "image-folder" (train/ and test/ class
// folders of PNG files the test writes with OpenCV) and "npy" (arrays the test writes), run,
// scored on the training split's normalisation, evaluated again from the model file.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>

#include <cstring>
#include <torch/torch.h>
#include <filesystem>
#include <string>
#include <vector>

#include "cli_util.h"
#include "distillery/app/experiment_data.h"
#include "test_util.h"

namespace fs = std::filesystem;
using distillery::test::run_command;
using distillery::test::slurp;
using distillery::test::TempDir;

namespace {

const std::vector<std::string> kClasses = {"ant", "bee", "cat"};

// Pixel (y, x, c) of image `i` of class `k`: bright in channel k, dim elsewhere, varying with
// i, y and x, so that the classes are easy and the images differ.
uint8_t pixel(int k, int i, int y, int x, int c) {
  return static_cast<uint8_t>(c == k ? 150 + (7 * i + y + x) % 100 : (3 * i + 2 * y + x) % 40);
}

// `count` 8 x 8 RGB PNG images per class under `root/<class>/`.
void write_folder(const std::string& root, const std::vector<std::string>& classes, int count) {
  for (int k = 0; k < static_cast<int>(classes.size()); ++k) {
    fs::create_directories(root + "/" + classes[k]);
    for (int i = 0; i < count; ++i) {
      cv::Mat image(8, 8, CV_8UC3);
      for (int y = 0; y < 8; ++y) {
        for (int x = 0; x < 8; ++x) {  // OpenCV stores BGR
          image.at<cv::Vec3b>(y, x) = cv::Vec3b(pixel(k, i, y, x, 2), pixel(k, i, y, x, 1),
                                                pixel(k, i, y, x, 0));
        }
      }
      ASSERT_TRUE(cv::imwrite(root + "/" + classes[k] + "/" + std::to_string(i) + ".png", image));
    }
  }
}

// `<dir>/<split>_images.npy` ([N, 8, 8, 3] uint8, classes in turn) and `_labels.npy` (int64).
void write_arrays(const std::string& dir, const std::string& split, int count) {
  std::vector<uint8_t> pixels;
  std::vector<int64_t> labels;
  for (int i = 0; i < count; ++i) {
    const int k = i % 3;
    labels.push_back(k);
    for (int y = 0; y < 8; ++y) {
      for (int x = 0; x < 8; ++x) {
        for (int c = 0; c < 3; ++c) pixels.push_back(pixel(k, i, y, x, c));
      }
    }
  }
  std::vector<uint8_t> label_bytes(labels.size() * sizeof(int64_t));
  std::memcpy(label_bytes.data(), labels.data(), label_bytes.size());
  const auto n = std::to_string(count);
  distillery::test::write_bytes(
      dir + "/" + split + "_images.npy",
      distillery::test::npy_bytes(distillery::test::npy_dict("|u1", "(" + n + ", 8, 8, 3)"), pixels));
  distillery::test::write_bytes(
      dir + "/" + split + "_labels.npy",
      distillery::test::npy_bytes(distillery::test::npy_dict("<i8", "(" + n + ",)"), label_bytes));
}

nlohmann::json own_data_config(const std::string& dataset, const std::string& data,
                               const std::string& out_dir) {
  auto c = distillery::test::tiny_config(data, out_dir, /*teacher_epochs=*/2, /*student_epochs=*/1);
  c["data"] = {{"dataset", dataset}, {"dir", data}, {"heldout", 6}};
  c["teacher"]["model"] = {{"architecture", "mlp"}, {"hidden", {32}}};
  return c;
}

distillery::test::CommandResult run_config(const TempDir& dir, const nlohmann::json& c) {
  const auto path = dir.file("exp.json");
  const auto text = c.dump(2);
  distillery::test::write_bytes(path, std::vector<uint8_t>(text.begin(), text.end()));
  return run_command(std::string(DISTILLERY_CLI) + " run " + path, dir);
}

TEST(CliOwnData, AnImageFolderRunsAndItsModelEvaluatesOnTheTestFolder) {
  TempDir dir;
  const auto data = dir.file("pets");
  write_folder(data + "/train", kClasses, 12);
  write_folder(data + "/test", kClasses, 4);
  const auto c = own_data_config("image-folder", data, dir.file("out"));
  auto r = run_config(dir, c);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("data: 30 training (30 in the transfer set), 6 held-out and 12 test "
                          "images of 3x8x8"), std::string::npos) << r.output;
  const auto results = nlohmann::json::parse(slurp(dir.file("out/results.json")));
  EXPECT_EQ(results.at("dataset"), "image-folder");
  EXPECT_EQ(results.at("class_names"), nlohmann::json(kClasses));
  const auto& student = results.at("student_distilled");
  EXPECT_EQ(student.at("test_examples"), 12);
  EXPECT_EQ(student.at("validation_examples"), 6);
  EXPECT_EQ(student.at("errors_per_class").size(), 3u);
  // The model file records the folder names and the measured normalisation; evaluate reads
  // the test folder at the model's size with them and gets the run's figure.
  r = run_command(std::string(DISTILLERY_CLI) + " evaluate " + dir.file("out/student_distilled.pt") +
                      " --data " + data + " --json", dir);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const auto evaluated = nlohmann::json::parse(r.stdout_text);
  EXPECT_EQ(evaluated.at("dataset"), "image-folder");
  EXPECT_EQ(evaluated.at("test_errors"), student.at("test_errors"));
  EXPECT_EQ(evaluated.at("normalization").at("mean").size(), 3u);
  // Test folders of other classes (the same count) would shift every label: refused.
  fs::rename(data + "/test/ant", data + "/test/zebra");
  r = run_command(std::string(DISTILLERY_CLI) + " evaluate " + dir.file("out/student_distilled.pt") +
                      " --data " + data, dir);
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find(data + ": the classes (bee, cat, zebra) are not the model's (ant, bee, "
                          "cat, from "), std::string::npos) << r.output;
}

TEST(CliOwnData, AnImageFolderWhoseTestClassesDifferIsRefused) {
  TempDir dir;
  const auto data = dir.file("pets");
  write_folder(data + "/train", kClasses, 4);
  write_folder(data + "/test", {"ant", "bee", "dog"}, 2);
  auto c = own_data_config("image-folder", data, dir.file("out"));
  auto r = run_config(dir, c);
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find(data + "/test: the class folders (ant, bee, dog) are not those of " +
                          data + "/train (ant, bee, cat); give both splits the same classes"),
            std::string::npos) << r.output;
  EXPECT_FALSE(fs::exists(dir.file("out/results.json")));
  fs::remove_all(data + "/test/dog");
  write_folder(data + "/test", kClasses, 2);
  c["data"]["omit_classes"] = {3};
  r = run_config(dir, c);
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.output.find("data.omit_classes: class 3 is outside [0, 3)"), std::string::npos)
      << r.output;
}

TEST(CliOwnData, NpyArraysRun) {
  TempDir dir;
  const auto data = dir.file("arrays");
  fs::create_directories(data);
  write_arrays(data, "train", 36);
  write_arrays(data, "test", 9);
  auto c = own_data_config("npy", data, dir.file("out"));
  c["data"]["layout"] = "nhwc";
  c["data"]["train_limit"] = 30;
  const auto r = run_config(dir, c);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("data: 24 training (24 in the transfer set), 6 held-out and 9 test "
                          "images of 3x8x8"), std::string::npos) << r.output;
  const auto results = nlohmann::json::parse(slurp(dir.file("out/results.json")));
  EXPECT_EQ(results.at("dataset"), "npy");
  EXPECT_EQ(results.at("student_distilled").at("test_examples"), 9);
  EXPECT_EQ(results.at("student_distilled").at("errors_per_class").size(), 3u);
}

TEST(CliOwnData, AnImageFoldersLimitAndHeldOutImagesCoverEveryClass) {
  TempDir dir;
  write_folder(dir.file("pets/train"), kClasses, 12);
  distillery::DataConfig config;
  config.dataset = "image-folder";
  config.dir = dir.file("pets");
  config.train_limit = 12;
  const auto first = distillery::load_dataset_split(config, distillery::data::Split::kTrain, 12);
  ASSERT_EQ(first.size(), 12);
  // Read class by class, the first 12 would all be ants; shuffled once, each class is there.
  const auto counts = torch::bincount(first.labels, {}, 3);
  for (int k = 0; k < 3; ++k) EXPECT_GT(counts[k].item<int64_t>(), 0) << k;
  const auto tail = torch::bincount(first.labels.narrow(0, 8, 4), {}, 3);
  EXPECT_LT(tail.max().item<int64_t>(), 4);  // the last rows (held out) are not one class
  // The order is fixed: the same rows on every read.
  const auto again = distillery::load_dataset_split(config, distillery::data::Split::kTrain, 12);
  EXPECT_TRUE(torch::equal(first.images, again.images));
  EXPECT_TRUE(torch::equal(first.labels, again.labels));
  // The normalisation is measured on the images kept: three channels, each mean in (0, 1).
  ASSERT_TRUE(first.normalization.has_value());
  ASSERT_EQ(first.normalization->mean.size(), 3u);
  const auto pixels = first.images.to(torch::kDouble).div(255).mean({0, 2, 3});
  for (int ch = 0; ch < 3; ++ch) {
    EXPECT_NEAR(first.normalization->mean[ch], pixels[ch].item<double>(), 1e-9) << ch;
  }
}

}  // namespace

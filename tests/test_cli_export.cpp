// `distillery export`: a run's student written as ONNX, with the run's figures in its metadata.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <string>

#include "cli_util.h"
#include "test_util.h"

namespace fs = std::filesystem;
using distillery::test::run_command;
using distillery::test::slurp;
using distillery::test::TinyRunTest;

namespace {

TEST_F(TinyRunTest, ExportWritesTheStudentWithTheRunsTestAccuracy) {
  auto r = cli("run " + config_path, config);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const auto model = out_dir + "/student_distilled.pt";
  r = run_command(std::string(DISTILLERY_CLI) + " export " + model + " --json", dir);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const auto printed = nlohmann::json::parse(r.stdout_text);
  const auto onnx = out_dir + "/student_distilled.onnx";
  EXPECT_EQ(printed.at("output"), onnx);
  EXPECT_EQ(printed.at("bytes").get<int64_t>(), static_cast<int64_t>(fs::file_size(onnx)));
  const auto results = nlohmann::json::parse(slurp(out_dir + "/results.json"));
  const auto& student = results.at("student_distilled");
  const auto& metadata = printed.at("metadata");
  EXPECT_EQ(metadata.at("test_accuracy"), student.at("test_accuracy").dump());
  EXPECT_EQ(metadata.at("parameters"), student.at("parameters").dump());
  EXPECT_EQ(metadata.at("dataset"), "fashion-mnist");
  EXPECT_EQ(metadata.at("source_model"), model);
  EXPECT_EQ(nlohmann::json::parse(metadata.at("class_names").get<std::string>()).size(), 10u);
  // Only the student's weights: its parameters and the normalisation's mean and std (the MLP
  // student has no BatchNorm to fold).
  EXPECT_EQ(printed.at("initializer_values"), student.at("parameters").get<int64_t>() + 2);
  // The plain line names both files; --output chooses the file.
  r = run_command(std::string(DISTILLERY_CLI) + " export " + model + " -o " + dir.file("s.onnx"),
                  dir);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(r.stdout_text.rfind(model + " -> " + dir.file("s.onnx") + ": ", 0), 0u) << r.stdout_text;
  EXPECT_TRUE(fs::exists(dir.file("s.onnx")));
  // Never over the model itself, nor over what is not a regular file.
  const auto before = slurp(model);
  r = run_command(std::string(DISTILLERY_CLI) + " export " + model + " -o " + model, dir);
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.output.find(model + ": is the model file being exported; give --output another "
                          "path"), std::string::npos) << r.output;
  EXPECT_EQ(slurp(model), before);
  r = run_command(std::string(DISTILLERY_CLI) + " export " + model + " -o /dev/null", dir);
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.output.find("/dev/null: exists and is not a regular file"), std::string::npos)
      << r.output;
  EXPECT_TRUE(fs::is_character_file("/dev/null"));
}

TEST_F(TinyRunTest, ExportRefusesWhatIsNotADistilleryModelFile) {
  distillery::test::write_bytes(dir.file("junk.pt"), {1, 2, 3, 4});
  auto r = run_command(std::string(DISTILLERY_CLI) + " export " + dir.file("junk.pt"), dir);
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find(dir.file("junk.pt")), std::string::npos) << r.output;
  EXPECT_FALSE(fs::exists(dir.file("junk.onnx")));
  r = run_command(std::string(DISTILLERY_CLI) + " export " + dir.file("junk.pt") + " --opset 9",
                  dir);
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.output.find("--opset"), std::string::npos) << r.output;
}

}  // namespace

// End-to-end: what can be checked before training is checked before training, with messages
// that name the file and the cause; the program's own surface (--version, stderr, overrides).

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <filesystem>
#include <limits>
#include <nlohmann/json.hpp>

#include "cli_util.h"
#include "distillery/io.h"
#include "distillery/app/model_specs.h"
#include "distillery/models.h"

namespace fs = std::filesystem;
using distillery::test::CommandResult;
using distillery::test::run_command;
using distillery::test::slurp;
using distillery::test::TempDir;

namespace {

class CliChecksTest : public distillery::test::TinyRunTest {
 protected:
  // Whether any model started training (the progress log has one line per epoch).
  static bool trained(const CommandResult& r) {
    return r.output.find(" epoch 1/") != std::string::npos;
  }
};

TEST_F(CliChecksTest, AMissingOrDamagedSoftTargetsFileIsFoundBeforeTheTeacherTrains) {
  const auto missing = dir.file("missing.bin"), damaged = dir.file("damaged.bin");
  distillery::write_file_atomic(damaged, std::string(100, 'x'));
  config["distillation"]["soft_targets"] = missing;
  auto r = cli("run " + config_path, config);
  EXPECT_EQ(r.exit_code, 2) << r.output;  // a config error: nothing is loaded or created
  EXPECT_NE(r.output.find(config_path + ": distillation.soft_targets: " + missing +
                          " does not exist; create it with `distillery soft-targets`"),
            std::string::npos)
      << r.output;
  EXPECT_FALSE(fs::exists(out_dir));
  config["distillation"]["soft_targets"] = damaged;
  r = cli("run " + config_path, config);
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find("distillation.soft_targets: " + damaged +
                          ": not a distillery soft-targets file"),
            std::string::npos)
      << r.output;
  EXPECT_FALSE(trained(r)) << r.output;
  EXPECT_FALSE(fs::exists(out_dir)) << "a failed run leaves no out_dir it created";
}

TEST_F(CliChecksTest, ATorchScriptMemberOfTheWrongInputShapeIsFoundBeforeAnyMemberTrains) {
  // 20 x 20 images: the TorchScript fixture takes 28 x 28 = 784 inputs.
  std::vector<uint8_t> images(200 * 20 * 20, 7), labels(200);
  for (int i = 0; i < 200; ++i) labels[i] = static_cast<uint8_t>(i % 10);
  for (const char* split : {"train", "t10k"}) {
    distillery::test::write_bytes(data_dir + "/" + split + "-images-idx3-ubyte",
                                  distillery::test::idx_bytes({200, 20, 20}, images));
    distillery::test::write_bytes(data_dir + "/" + split + "-labels-idx1-ubyte",
                                  distillery::test::idx_bytes({200}, labels));
  }
  const auto ts = std::string(DISTILLERY_FIXTURE_DIR) + "/teacher_mlp.ts";
  config["teacher"] = {{"members", {config["teacher"], {{"torchscript", ts}}}}};
  const auto r = cli("run " + config_path, config);
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find(ts + ": the teacher_member_1 cannot run on the data's 1x20x20 images: "),
            std::string::npos)
      << r.output;
  EXPECT_FALSE(trained(r)) << r.output;
}

TEST_F(CliChecksTest, ATeacherWithNanWeightsIsBlamedBeforeAnyStudentTrains) {
  auto net = distillery::make_mlp(distillery::MLPOptions().hidden({8}), {1, 28, 28}, 10);
  {
    torch::NoGradGuard no_grad;
    net->parameters()[0][0][0] = std::numeric_limits<float>::quiet_NaN();
  }
  const auto teacher = dir.file("nan_teacher.pt");
  distillery::save_model(teacher, net,
                         distillery::model_record({{"architecture", "mlp"}, {"hidden", {8}}},
                                                  {1, 28, 28}, 10));
  config["teacher"] = {{"checkpoint", teacher}};
  const auto r = cli("run " + config_path, config);
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find(teacher + ": the teacher gives logits that are not finite (NaN or "
                                    "infinite) for 64 of the first 64 training images; the "
                                    "teacher itself is broken (check its file or how it was "
                                    "trained), not the student's settings"),
            std::string::npos)
      << r.output;
  EXPECT_FALSE(trained(r)) << r.output;
}

TEST_F(CliChecksTest, ATeacherTrainedOnAnotherDataSetIsRefused) {
  auto mnist = config;
  mnist["data"]["dataset"] = "mnist";
  auto r = cli("run " + config_path, mnist);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const auto teacher = dir.file("mnist_teacher.pt");
  fs::copy_file(out_dir + "/teacher.pt", teacher);
  config["teacher"] = {{"checkpoint", teacher}};
  config["out_dir"] = dir.file("fashion");
  r = cli("run " + config_path, config);
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(r.output.find(teacher + ": the teacher was trained on mnist (with its normalisation), "
                                    "but the data is fashion-mnist; set data.dataset to "
                                    "\"mnist\" or give a teacher trained on fashion-mnist"),
            std::string::npos)
      << r.output;
  EXPECT_FALSE(trained(r)) << r.output;
}

TEST_F(CliChecksTest, SoftTargetsKeepsItsTeacherForRunToReuseUnderOtherThreads) {
  const auto stored = dir.file("targets.bin");
  auto r = cli("soft-targets " + config_path + " --output " + stored, config);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_TRUE(fs::exists(out_dir + "/teacher.pt"));
  config["distillation"]["soft_targets"] = stored;
  r = cli("run " + config_path + " --threads 2", config);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("teacher: reusing " + out_dir + "/teacher.pt"), std::string::npos)
      << r.output;
  const auto results = nlohmann::json::parse(slurp(out_dir + "/results.json"));
  EXPECT_EQ(results.at("distillation").at("soft_targets"), "stored");
  EXPECT_EQ(results.at("teacher").at("train_seconds"), 0.0);  // not trained again
  // Another teacher recipe trains again, and then the stored targets are another teacher's.
  config["teacher"]["seed"] = 11;
  r = cli("run " + config_path, config);
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find(stored + ": made with another teacher"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("); recompute it with `distillery soft-targets`"), std::string::npos)
      << r.output;
}

TEST_F(CliChecksTest, VersionLogsOnStderrAndEmptyOverrides) {
  auto r = cli("--version", config);
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(r.stdout_text.rfind("distillery 0.1.0 (LibTorch ", 0), 0u) << r.output;

  // An error goes to stderr, nothing to stdout.
  r = cli("run " + dir.file("absent.json"), config);
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_EQ(r.stdout_text, "");
  EXPECT_NE(r.output.find("cannot open " + dir.file("absent.json")), std::string::npos);

  r = cli("evalute model.pt", config);
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(r.output.find("distillery: unknown command 'evalute'; the commands are run, train, "
                          "soft-targets, specialists, evaluate, export and models (see --help)"),
            std::string::npos)
      << r.output;

  for (const char* flag : {"--out-dir", "--data", "--device"}) {
    r = cli("run " + config_path + " " + flag + " ''", config);
    EXPECT_EQ(r.exit_code, 2) << flag << ": " << r.output;
    EXPECT_NE(r.output.find(std::string(flag) + ": must not be empty"), std::string::npos)
        << r.output;
  }
}

}  // namespace

// End-to-end tests of the `distillery` program and the example, on tiny IDX files written here.

#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <sstream>

#include "cli_util.h"
#include "distillery/app/config.h"

namespace fs = std::filesystem;
using distillery::test::CliTest;
using distillery::test::run_command;
using distillery::test::slurp;
using distillery::test::TempDir;
using distillery::test::tiny_config;

namespace {

TEST_F(CliTest, RunWritesResultsConfigMetricsAndModels) {
  const auto r = run_command(cli("run " + config), dir);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const auto results = nlohmann::json::parse(slurp(out_dir + "/results.json"));
  for (const char* name : {"teacher", "student_scratch", "student_distilled"}) {
    const auto& m = results.at(name);
    EXPECT_EQ(m.at("test_examples"), 100) << name;
    const auto errors = m.at("test_errors").get<int64_t>();
    EXPECT_GE(errors, 0);
    EXPECT_NEAR(m.at("test_accuracy").get<double>(), 1.0 - errors / 100.0, 1e-12) << name;
    EXPECT_GT(m.at("parameters").get<int64_t>(), 0) << name;
    EXPECT_GT(m.at("multiply_adds").get<int64_t>(), 0) << name;
    EXPECT_GT(m.at("train_seconds").get<double>(), 0.0) << name;
    EXPECT_TRUE(fs::exists(out_dir + "/" + name + ".pt")) << name;
  }
  // The planted squares are trivially separable: the teacher must learn them.
  EXPECT_LE(results.at("teacher").at("test_errors").get<int64_t>(), 10);
  // Both students are the same architecture.
  EXPECT_EQ(results.at("student_scratch").at("parameters"),
            results.at("student_distilled").at("parameters"));
  EXPECT_EQ(results.at("student_scratch").at("parameters"), 784 * 16 + 16 + 16 * 10 + 10);
  // Resolved config beside the results, parseable and complete.
  const auto resolved = distillery::load_config(out_dir + "/config.json");
  EXPECT_EQ(resolved.student.training.epochs(), 3);
  EXPECT_EQ(resolved.teacher.training.optimizer(), distillery::Optimizer::kAdam);
  // metrics.jsonl: 6 teacher epochs + 3 + 3 student epochs.
  std::istringstream lines(slurp(out_dir + "/metrics.jsonl"));
  std::string line;
  int count = 0;
  while (std::getline(lines, line)) ++count;
  EXPECT_EQ(count, 12);
  EXPECT_NE(r.output.find("student_distilled"), std::string::npos) << r.output;

  // evaluate agrees with what run reported.
  const auto e = run_command(cli("evaluate " + out_dir + "/teacher.pt --json --data " + data_dir), dir);
  ASSERT_EQ(e.exit_code, 0) << e.output;
  const auto eval = nlohmann::json::parse(e.stdout_text);
  EXPECT_EQ(eval.at("test_errors"), results.at("teacher").at("test_errors"));
  EXPECT_EQ(eval.at("parameters"), results.at("teacher").at("parameters"));
}

TEST_F(CliTest, RunWithoutScratchAndEvaluateOnTrainingImages) {
  auto c = tiny_config(data_dir, out_dir);
  c["student"]["scratch"] = false;
  write(config, c.dump());
  const auto r = run_command(cli("run " + config), dir);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const auto results = nlohmann::json::parse(slurp(out_dir + "/results.json"));
  EXPECT_TRUE(results.at("student_scratch").is_null()) << results.dump();
  EXPECT_FALSE(fs::exists(out_dir + "/student_scratch.pt"));
  EXPECT_FALSE(distillery::load_config(out_dir + "/config.json").student.scratch);
  std::istringstream lines(slurp(out_dir + "/metrics.jsonl"));
  std::string line;
  int count = 0;
  while (std::getline(lines, line)) ++count;
  EXPECT_EQ(count, 6 + 3);  // teacher and distilled student only

  const auto model = out_dir + "/student_distilled.pt";
  auto evaluate = [&](const std::string& args) {
    const auto e = run_command(cli("evaluate " + model + " --json --data " + data_dir + args), dir);
    EXPECT_EQ(e.exit_code, 0) << e.output;
    return nlohmann::json::parse(e.stdout_text);
  };
  const auto all = evaluate(" --split train");
  const auto head = evaluate(" --split train --limit 50");
  EXPECT_EQ(all.at("split"), "train");
  EXPECT_EQ(all.at("train_examples"), 300);
  EXPECT_EQ(head.at("train_examples"), 50);
  EXPECT_LE(head.at("train_errors").get<int64_t>(), all.at("train_errors").get<int64_t>());
  EXPECT_NEAR(all.at("train_accuracy").get<double>(),
              1.0 - all.at("train_errors").get<int64_t>() / 300.0, 1e-12);
  const auto bad = run_command(cli("evaluate " + model + " --split validation"), dir);
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_NE(bad.output.find("validation not in {test,train}"), std::string::npos) << bad.output;
}

TEST_F(CliTest, TrainTrainsOneModel) {
  // --quiet after the subcommand works too.
  const auto r = run_command(cli("train " + config + " --model student --quiet --out-dir " + out_dir), dir);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_TRUE(fs::exists(out_dir + "/train-student/student.pt"));
  EXPECT_TRUE(fs::exists(out_dir + "/train-student/metrics.jsonl"));
  EXPECT_FALSE(fs::exists(out_dir + "/results.json"));
  EXPECT_EQ(r.output.find("[info]"), std::string::npos) << r.output;
}

TEST_F(CliTest, MalformedJsonFailsWithFileAndPosition) {
  write(config, "{\"name\": \"x\",,}");
  const auto r = run_command(cli("run " + config), dir);
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.output.find(config + ": malformed JSON at line 1, column 14"), std::string::npos)
      << r.output;
}

TEST_F(CliTest, UnknownKeyFailsNamingFileAndKey) {
  auto c = tiny_config(data_dir, out_dir);
  c["distillation"]["temprature"] = 3;
  write(config, c.dump());
  const auto r = run_command(cli("run " + config), dir);
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.output.find(config + ": distillation.temprature: unknown key"), std::string::npos)
      << r.output;
  EXPECT_FALSE(fs::exists(out_dir + "/results.json"));
}

TEST_F(CliTest, WrongTypeFailsNamingFileAndKey) {
  auto c = tiny_config(data_dir, out_dir);
  c["student"]["training"]["learning_rate"] = "fast";
  write(config, c.dump());
  const auto r = run_command(cli("run " + config), dir);
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.output.find(config + ": student.training.learning_rate: expected a number, got "
                                   "string (\"fast\")"),
            std::string::npos)
      << r.output;
}

TEST_F(CliTest, MissingDataDirectoryFailsWithAdvice) {
  const auto r = run_command(cli("run " + config + " --data " + dir.file("nowhere")), dir);
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find("data file not found: neither " + dir.file("nowhere") +
                          "/train-images-idx3-ubyte nor"),
            std::string::npos)
      << r.output;
  EXPECT_NE(r.output.find("dataset-fashion-mnist"), std::string::npos) << r.output;
}

TEST_F(CliTest, MissingConfigAndModelFilesFail) {
  auto r = run_command(cli("run " + dir.file("absent.json")), dir);
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.output.find("cannot open " + dir.file("absent.json")), std::string::npos) << r.output;
  r = run_command(cli("evaluate " + dir.file("absent.pt") + " --data " + data_dir), dir);
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find(dir.file("absent.pt") + ": no such file"), std::string::npos)
      << r.output;
}

TEST_F(CliTest, NoSubcommandIsAUsageError) {
  auto r = run_command(cli(""), dir);
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.output.find("A subcommand is required"), std::string::npos) << r.output;
  r = run_command(cli("train " + config), dir);  // --model is required
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.output.find("--model is required"), std::string::npos) << r.output;
  r = run_command(cli("run " + config + " --threads 9999"), dir);
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(run_command(cli("--help"), dir).exit_code, 0);
}

TEST_F(CliTest, ExampleProgramDistilsOnTinyData) {
  const auto r = run_command(std::string(DISTILLERY_EXAMPLE) + " " + data_dir + " 1", dir);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("teacher: "), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("student: "), std::string::npos) << r.output;
}

TEST_F(CliTest, SpecialistsExampleCombinesOnTinyData) {
  const auto r = run_command(std::string(DISTILLERY_SPECIALISTS_EXAMPLE) + " " + data_dir + " 2", dir);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("subsets:"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("generalist: "), std::string::npos) << r.output;
}

nlohmann::json results_of(const std::string& out_dir) {
  return nlohmann::json::parse(slurp(out_dir + "/results.json"));
}

TEST_F(CliTest, SoftTargetsCommandWritesWhatRunThenReads) {
  auto r = run_command(cli("soft-targets " + config + " --output " + dir.file("st.bin")), dir);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  ASSERT_TRUE(fs::exists(dir.file("st.bin")));
  auto c = tiny_config(data_dir, out_dir);
  c["distillation"]["soft_targets"] = dir.file("st.bin");
  write(config, c.dump());
  // The teacher is retrained with the same seed and one thread: bit-identical, same fingerprint.
  r = run_command(cli("run " + config), dir);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(results_of(out_dir).at("distillation").at("soft_targets"), "stored");
  // A damaged file is refused, saying so.
  auto bytes = slurp(dir.file("st.bin"));
  bytes[bytes.size() - 5] ^= 0x10;
  write(dir.file("st.bin"), bytes);
  r = run_command(cli("run " + config), dir);
  EXPECT_EQ(r.exit_code, 1);
  // The core says what is wrong with the file; the program adds which command recomputes it.
  EXPECT_NE(r.output.find("distillation.soft_targets: " + dir.file("st.bin") +
                          ": damaged (payload checksum mismatch); recompute it with "
                          "`distillery soft-targets`"),
            std::string::npos)
      << r.output;
}

TEST_F(CliTest, AutoSoftTargetsAreComputedOnceThenReused) {
  auto r = run_command(cli("run " + config), dir);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(results_of(out_dir).at("distillation").at("soft_targets"), "computed");
  EXPECT_TRUE(fs::exists(out_dir + "/soft_targets.bin"));
  r = run_command(cli("run " + config), dir);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(results_of(out_dir).at("distillation").at("soft_targets"), "stored");
}

TEST_F(CliTest, OmittedClassIsCorrectedByABiasShiftChosenOnHeldOutData) {
  auto c = tiny_config(data_dir, out_dir);
  c["data"]["omit_classes"] = {3};
  c["data"]["heldout"] = 60;
  write(config, c.dump());
  const auto r = run_command(cli("run " + config), dir);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const auto results = results_of(out_dir);
  ASSERT_EQ(results.at("bias_shifts").size(), 1u);
  const double shift = results.at("bias_shifts")[0];
  EXPECT_GE(shift, 0.0);
  EXPECT_LE(shift, 10.0);
  const auto& corrected = results.at("student_distilled_corrected");
  EXPECT_EQ(corrected.at("errors_per_class").size(), 10u);
  // The correction only raises class 3: it cannot add errors on class 3.
  EXPECT_LE(corrected.at("errors_per_class")[3].get<int64_t>(),
            results.at("student_distilled").at("errors_per_class")[3].get<int64_t>());
  EXPECT_TRUE(fs::exists(out_dir + "/student_distilled_corrected.pt"));
  // With held-out images every model is also scored on them: the validation split.
  for (const char* name : {"teacher", "student_scratch", "student_distilled"}) {
    const auto& report = results.at(name);
    EXPECT_EQ(report.at("validation_examples"), 60) << name;
    const auto errors = report.at("validation_errors").get<int64_t>();
    EXPECT_EQ(report.at("validation_accuracy"), (60.0 - errors) / 60.0) << name;
  }
}

TEST_F(CliTest, EnsembleOfTorchScriptAndTrainedTeachers) {
  auto c = tiny_config(data_dir, out_dir);
  nlohmann::json scripted = nlohmann::json::object();
  scripted["torchscript"] = std::string(DISTILLERY_FIXTURE_DIR) + "/teacher_mlp.ts";
  nlohmann::json trained = nlohmann::json::object();
  trained["model"] = nlohmann::json::parse(R"({"architecture": "mlp", "hidden": [8]})");
  trained["training"] = nlohmann::json::parse(R"({"epochs": 1})");
  c["teacher"] = nlohmann::json::object();
  c["teacher"]["combine"] = "arithmetic";
  c["teacher"]["members"] = nlohmann::json::array({scripted, trained});
  write(config, c.dump());
  const auto r = run_command(cli("run " + config), dir);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const auto results = results_of(out_dir);
  EXPECT_TRUE(results.at("teacher").at("multiply_adds").is_null());  // unknown for TorchScript
  // Saved under its member index: member 0 is the TorchScript file, member 1 was trained.
  EXPECT_TRUE(fs::exists(out_dir + "/teacher_member_1.pt"));
  EXPECT_FALSE(fs::exists(out_dir + "/teacher_member_0.pt"));
  EXPECT_FALSE(fs::exists(out_dir + "/teacher.pt"));
}

TEST_F(CliTest, MissingTorchScriptTeacherIsRefused) {
  auto c = tiny_config(data_dir, out_dir);
  c["teacher"] = {{"torchscript", dir.file("absent.ts")}};
  write(config, c.dump());
  const auto r = run_command(cli("run " + config), dir);
  EXPECT_EQ(r.exit_code, 2);  // a config error, found before anything is loaded
  EXPECT_NE(r.output.find(config + ": teacher.torchscript: " + dir.file("absent.ts") +
                          " does not exist"),
            std::string::npos)
      << r.output;
  EXPECT_FALSE(fs::exists(out_dir)) << "a config error must not create out_dir";
}

TEST_F(CliTest, TransferSetWithoutLabelsFileDistilsOnSoftTargetsOnly) {
  fs::remove(data_dir + "/train-labels-idx1-ubyte.gz");
  auto c = tiny_config(data_dir, out_dir);
  write(config, c.dump());
  auto r = run_command(cli("run " + config), dir);  // a teacher to train needs labels
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.output.find("teacher: the training images have no labels file, so the teacher "
                          "cannot be trained here"),
            std::string::npos)
      << r.output;
  c["teacher"] = nlohmann::json::object();
  c["teacher"]["torchscript"] = std::string(DISTILLERY_FIXTURE_DIR) + "/teacher_mlp.ts";
  write(config, c.dump());
  r = run_command(cli("run " + config), dir);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const auto results = results_of(out_dir);
  EXPECT_TRUE(results.at("student_scratch").is_null());
  EXPECT_EQ(results.at("distillation").at("unlabeled"), true);
  EXPECT_EQ(results.at("student_distilled").at("test_examples"), 100);
}

TEST(Configs, EveryShippedConfigIsValid) {
  int count = 0;
  for (const auto& entry : fs::directory_iterator(DISTILLERY_CONFIG_DIR)) {
    if (entry.path().extension() != ".json") continue;
    EXPECT_NO_THROW(distillery::load_config(entry.path().string())) << entry.path();
    ++count;
  }
  EXPECT_GE(count, 1);
}

std::string specialists_config(const std::string& data_dir, const std::string& out_dir,
                               const nlohmann::json& generalist, const nlohmann::json& subsets) {
  nlohmann::json c = {{"name", "tiny_specialists"},
                      {"out_dir", out_dir},
                      {"threads", 1},
                      {"data", {{"dir", data_dir}, {"heldout", 60}}},
                      {"generalist", generalist},
                      {"specialists",
                       {{"training", {{"epochs", 2}, {"batch_size", 32}}},
                        {"max_iterations", 500}}}};
  if (subsets.is_null()) {
    c["specialists"]["clusters"] = 2;
    c["specialists"]["min_subset_size"] = 1;
  } else {
    c["specialists"]["subsets"] = subsets;
  }
  return c.dump(2);
}

TEST_F(CliTest, SpecialistsClusterTrainAndCombineThenReuseGeneralistAndSubsets) {
  const nlohmann::json generalist = {
      {"model", {{"architecture", "mlp"}, {"hidden", {32}}}},
      {"training", {{"epochs", 4}, {"batch_size", 32}, {"learning_rate", 0.003}}}};
  write(config, specialists_config(data_dir, out_dir, generalist, nullptr));
  const auto r = run_command(cli("specialists " + config), dir);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const auto results = nlohmann::json::parse(slurp(out_dir + "/results.json"));
  EXPECT_EQ(results.at("subsets_source"), "clustering");
  EXPECT_EQ(results.at("cluster_on"), "heldout");
  const auto subsets = results.at("subsets").get<std::vector<std::vector<int64_t>>>();
  ASSERT_EQ(subsets.size(), 2u);  // two clusters, every one kept (min_subset_size 1)
  EXPECT_EQ(subsets[0].size() + subsets[1].size(), 10u);
  EXPECT_EQ(results.at("covariance").size(), 10u);
  EXPECT_EQ(results.at("generalist").at("test_examples"), 100);
  EXPECT_EQ(results.at("combined").at("test_examples"), 100);
  EXPECT_GT(results.at("combined").at("parameters").get<int64_t>(),
            results.at("generalist").at("parameters").get<int64_t>());
  EXPECT_EQ(results.at("combination").at("not_converged"), 0);
  EXPECT_EQ(results.at("combination").at("active_cases"), 100);  // the subsets cover every class
  // Top-1 over disjoint subsets: exactly one specialist runs per image, so the real cost is
  // the generalist's plus one specialist's (each the generalist's size).
  EXPECT_DOUBLE_EQ(results.at("combination").at("mean_multiply_adds").get<double>(),
                   2.0 * results.at("generalist").at("multiply_adds").get<double>());
  const auto& specialists = results.at("specialists");
  ASSERT_EQ(specialists.size(), 2u);
  for (const auto& s : specialists) {
    const double f = s.at("subset_share").get<double>();
    EXPECT_NEAR(s.at("dustbin_correction").get<double>(), std::log((1 - f) / f), 1e-12);
  }
  for (const char* file : {"subsets.json", "generalist.pt", "specialist_0.pt", "specialist_1.pt",
                           "config.json", "metrics.jsonl"}) {
    EXPECT_TRUE(fs::exists(out_dir + "/" + file)) << file;
  }
  EXPECT_NE(r.output.find("+ specialists"), std::string::npos) << r.output;

  // Again from the saved generalist and the subsets file: same generalist, subsets "given".
  const std::string again_dir = dir.file("again");
  write(config, specialists_config(data_dir, again_dir,
                                   {{"checkpoint", out_dir + "/generalist.pt"}},
                                   out_dir + "/subsets.json"));
  // A specialist file of an earlier run with more subsets (listed in that run's manifest) must
  // not survive this one; a file no run wrote stays.
  fs::create_directories(again_dir);
  write(again_dir + "/specialist_7.pt", "stale");
  write(again_dir + "/specialist_notes.txt", "mine");
  write(again_dir + "/.distillery-manifest.json", R"({"files": ["specialist_7.pt"]})");
  const auto r2 = run_command(cli("specialists " + config), dir);
  ASSERT_EQ(r2.exit_code, 0) << r2.output;
  EXPECT_FALSE(fs::exists(again_dir + "/specialist_7.pt"));
  EXPECT_EQ(slurp(again_dir + "/specialist_notes.txt"), "mine");
  EXPECT_TRUE(fs::exists(again_dir + "/specialist_1.pt"));
  const auto again = nlohmann::json::parse(slurp(again_dir + "/results.json"));
  EXPECT_EQ(again.at("subsets_source"), "given");
  EXPECT_EQ(again.at("subsets"), results.at("subsets"));
  EXPECT_EQ(again.at("generalist").at("test_errors"), results.at("generalist").at("test_errors"));
}

TEST_F(CliTest, SpecialistsAndRunRefuseEachOthersConfigs) {
  const auto r = run_command(cli("specialists " + config), dir);
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.output.find("specialists: required key is missing"), std::string::npos) << r.output;
  write(config, specialists_config(data_dir, out_dir, {{"checkpoint", "g.pt"}}, {{0, 1}}));
  const auto r2 = run_command(cli("run " + config), dir);
  EXPECT_EQ(r2.exit_code, 2);
  EXPECT_NE(r2.output.find("teacher: required key is missing; this config describes a specialists "
                           "experiment"),
            std::string::npos)
      << r2.output;
}

}  // namespace

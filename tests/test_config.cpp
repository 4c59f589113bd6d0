#include <gtest/gtest.h>

#include "distillery/config.h"

namespace {

const char* kMinimal = R"({
  "student": {"model": {"architecture": "mlp", "hidden": [16]}},
  "teacher": {"model": {"architecture": "convnet"}}
})";

std::string error_of(const std::string& text) {
  try {
    distillery::parse_config(text, "exp.json");
  } catch (const distillery::ConfigError& e) {
    return e.what();
  }
  return "<no error>";
}

TEST(Config, DefaultsFillEverythingNotGiven) {
  const auto c = distillery::parse_config(kMinimal, "exp.json");
  EXPECT_EQ(c.name, "experiment");
  EXPECT_EQ(c.out_dir, "runs/experiment");
  EXPECT_EQ(c.data.dataset, "fashion-mnist");
  EXPECT_EQ(c.data.dir, "/usr/share/datasets/fashion-mnist");
  EXPECT_DOUBLE_EQ(c.distillation.temperature(), 4.0);
  EXPECT_DOUBLE_EQ(c.distillation.alpha(), 0.9);
  EXPECT_EQ(c.student.training.epochs(), 10);
  EXPECT_EQ(c.student.model["hidden"], nlohmann::json({16}));
}

TEST(Config, ResolvedConfigParsesBackToTheSameConfig) {
  auto text = std::string(kMinimal);
  const auto c = distillery::parse_config(text, "exp.json");
  const auto resolved = distillery::to_json(c);
  const auto again = distillery::parse_config(resolved.dump(), "resolved.json");
  EXPECT_EQ(distillery::to_json(again), resolved);
  EXPECT_EQ(resolved.at("student").at("training").at("optimizer"), "adam");
}

TEST(Config, SeedThreadsAndDeviceReachBothTrainers) {
  const auto c = distillery::parse_config(
      R"({"seed": 7, "threads": 1, "student": {"model": {"architecture": "mlp"}},
          "teacher": {"model": {"architecture": "mlp"}}})",
      "exp.json");
  EXPECT_EQ(c.student.training.seed(), 7u);
  EXPECT_EQ(c.teacher.training.threads(), 1);
  EXPECT_EQ(c.teacher.training.device(), "cpu");
}

TEST(Config, MalformedJsonGivesLineAndColumn) {
  const auto message = error_of("{\n  \"name\": \"x\",\n  \"seed\": ,\n}");
  EXPECT_EQ(message.rfind("exp.json: malformed JSON at line 3, column 11: ", 0), 0u) << message;
}

TEST(Config, UnknownKeyIsNamedWithItsPath) {
  EXPECT_EQ(error_of(R"({"student": {"model": {"architecture": "mlp"}, "trainng": {}},
                        "teacher": {"model": {"architecture": "mlp"}}})"),
            "exp.json: student.trainng: unknown key (known keys here: model, training)");
  EXPECT_EQ(error_of(R"({"studnet": {}, "student": {"model": {"architecture": "mlp"}},
                        "teacher": {"model": {"architecture": "mlp"}}})"),
            "exp.json: studnet: unknown key (known keys here: data, device, distillation, name, "
            "out_dir, seed, student, teacher, threads)");
}

TEST(Config, WrongTypeIsNamedWithItsPath) {
  EXPECT_EQ(error_of(R"({"student": {"model": {"architecture": "mlp"},
                                     "training": {"epochs": "ten"}},
                        "teacher": {"model": {"architecture": "mlp"}}})"),
            "exp.json: student.training.epochs: expected an integer, got string (\"ten\")");
}

TEST(Config, InvalidValuesAreNamedWithTheirPath) {
  EXPECT_EQ(error_of(R"({"student": {"model": {"architecture": "mlp"}, "training": {"epochs": 0}},
                        "teacher": {"model": {"architecture": "mlp"}}})"),
            "exp.json: student.training: epochs must be >= 1, got 0");
  EXPECT_EQ(error_of(R"({"student": {"model": {"architecture": "mlp"}},
                        "teacher": {"model": {"architecture": "mlp"}},
                        "distillation": {"alpha": 2}})"),
            "exp.json: distillation.alpha: must be in [0, 1], got 2.000000");
  EXPECT_EQ(error_of(R"({"student": {"model": {"architecture": "mlp", "dropout": 1.5}},
                        "teacher": {"model": {"architecture": "mlp"}}})"),
            "exp.json: student.model: dropout must be in [0, 1), got 1.5");
}

TEST(Config, MissingStudentModelIsAnError) {
  EXPECT_EQ(error_of(R"({"teacher": {"model": {"architecture": "mlp"}}})"),
            "exp.json: student.model: required key is missing (e.g. {\"architecture\": \"mlp\", "
            "\"hidden\": [800, 800]})");
}

TEST(Config, MissingFileIsAnError) {
  try {
    distillery::load_config("/nonexistent/exp.json");
    FAIL();
  } catch (const distillery::ConfigError& e) {
    EXPECT_STREQ(e.what(), "cannot open /nonexistent/exp.json: No such file or directory");
  }
}

}  // namespace

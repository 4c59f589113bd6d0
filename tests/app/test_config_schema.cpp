// The "training" section of a config, read, written and documented from the one field table of
// TrainerOptions (visit_fields, trainer.h).

#include <gtest/gtest.h>

#include <fstream>
#include <set>
#include <sstream>
#include <string>

#include "distillery/app/config.h"

namespace {

// Collects the names of a table.
struct Names {
  std::set<std::string> names;
  template <typename T, typename... Rest>
  void number(const char* name, const T&, const Rest&...) { names.insert(name); }
  void flag(const char* name, const bool&, const char*) { names.insert(name); }
  void numbers(const char* name, const std::vector<int64_t>&, const distillery::Bounds&, const char*) {
    names.insert(name);
  }
  template <typename E, typename... Rest>
  void choice(const char* name, const E&, const Rest&...) { names.insert(name); }
};

std::string section_of_docs(const std::string& section) {
  std::ifstream in(std::string(DISTILLERY_SOURCE_DIR) + "/docs/config.md");
  std::stringstream text;
  text << in.rdbuf();
  const std::string doc = text.str(), begin = "<!-- " + section + ":begin -->\n",
                    end = "<!-- " + section + ":end -->";
  const auto from = doc.find(begin), to = doc.find(end);
  if (from == std::string::npos || to == std::string::npos) return "<no " + section + " section>";
  return doc.substr(from + begin.size(), to - from - begin.size());
}

TEST(ConfigSchema, EveryFieldOfTheTableIsReadAndWrittenUnderItsName) {
  const auto c = distillery::parse_config(R"({
    "student": {"model": {"architecture": "mlp"},
                "training": {"epochs": 3, "batch_size": 7, "optimizer": "sgd",
                             "learning_rate": 0.5, "momentum": 0.25, "nesterov": false, "weight_decay": 0.125,
                             "lr_schedule": "step", "lr_step_epochs": 2, "lr_gamma": 0.5,
                             "lr_milestones": [3, 7],
                             "eval_batch_size": 9, "jitter_pixels": 1, "crop_padding": 2,
                             "horizontal_flip": true, "erasing_size": 3,
                             "erasing_probability": 0.75, "prefetch": true}},
    "teacher": {"model": {"architecture": "mlp"}}})", "exp.json");
  const auto& t = c.student.training;
  EXPECT_EQ(t.epochs(), 3);
  EXPECT_EQ(t.batch_size(), 7);
  EXPECT_EQ(t.optimizer(), distillery::Optimizer::kSgd);
  EXPECT_DOUBLE_EQ(t.learning_rate(), 0.5);
  EXPECT_DOUBLE_EQ(t.momentum(), 0.25);
  EXPECT_FALSE(t.nesterov());
  EXPECT_DOUBLE_EQ(t.weight_decay(), 0.125);
  EXPECT_EQ(t.lr_schedule(), distillery::LrSchedule::kStep);
  EXPECT_EQ(t.lr_step_epochs(), 2);
  EXPECT_DOUBLE_EQ(t.lr_gamma(), 0.5);
  EXPECT_EQ(t.lr_milestones(), (std::vector<int64_t>{3, 7}));
  EXPECT_EQ(t.eval_batch_size(), 9);
  EXPECT_EQ(t.jitter_pixels(), 1);
  EXPECT_EQ(t.augmentation().crop_padding(), 2);
  EXPECT_TRUE(t.augmentation().horizontal_flip());
  EXPECT_EQ(t.augmentation().erasing_size(), 3);
  EXPECT_DOUBLE_EQ(t.augmentation().erasing_probability(), 0.75);
  EXPECT_TRUE(t.prefetch());
  const auto written = distillery::to_json(c).at("student").at("training");
  Names table;
  visit_fields(t, table);
  std::set<std::string> keys;
  for (const auto& item : written.items()) keys.insert(item.key());
  EXPECT_EQ(keys, table.names);
  EXPECT_EQ(table.names.size(), 18u);
  EXPECT_EQ(written.at("optimizer"), "sgd");
  EXPECT_EQ(written.at("lr_schedule"), "step");
}

TEST(ConfigSchema, ANameOutsideAnEnumsTableIsRefusedWithTheChoices) {
  try {
    distillery::parse_config(R"({"student": {"model": {"architecture": "mlp"},
                                             "training": {"lr_schedule": "linear"}},
                                 "teacher": {"model": {"architecture": "mlp"}}})", "exp.json");
    FAIL();
  } catch (const distillery::ConfigError& e) {
    EXPECT_STREQ(e.what(), "exp.json: student.training.lr_schedule: must be \"constant\", "
                           "\"cosine\", \"step\" or \"multistep\", got \"linear\"");
  }
}

TEST(ConfigSchema, TheDocumentedTrainingSectionIsTheTable) {
  const auto schema = distillery::training_schema();
  EXPECT_EQ(schema.rfind("- `epochs`: passes over the training set (default 10; in [1, 1000000])\n",
                         0), 0u) << schema;
  EXPECT_NE(schema.find("- `optimizer`: the optimiser (SGD with momentum, Nesterov's unless "
                        "nesterov is false) (default \"adam\"; \"adam\" or \"sgd\")\n"),
            std::string::npos)
      << schema;
  EXPECT_EQ(section_of_docs("training"), schema)
      << "docs/config.md is out of date: its training section must read\n" << schema;
}

TEST(ConfigSchema, TheDocumentedSpecialistsKeysAreTheTables) {
  const auto schema = distillery::specialists_schema();
  EXPECT_NE(schema.find("- `kmeans_iterations`: Lloyd iterations per start (default 300; in [1, "
                        "1000000])\n"), std::string::npos) << schema;
  EXPECT_NE(schema.find("- `tolerance`: "), std::string::npos) << schema;
  EXPECT_EQ(section_of_docs("specialists"), schema)
      << "docs/config.md is out of date: its specialists section must read\n" << schema;
}

TEST(ConfigSchema, TheSpecialistsKeysAreReadCheckedAndWrittenFromTheTables) {
  const auto c = distillery::parse_config(R"({"data": {"heldout": 100},
      "generalist": {"model": {"architecture": "mlp"}},
      "specialists": {"clusters": 4, "restarts": 3, "kmeans_iterations": 50,
                      "min_subset_size": 3, "standardize": false, "top_n": 2,
                      "max_iterations": 7, "tolerance": 0.5, "method": "gradient"}})",
                                          "exp.json");
  const auto& s = *c.specialists;
  EXPECT_EQ(s.clustering.clusters(), 4);
  EXPECT_EQ(s.clustering.restarts(), 3);
  EXPECT_EQ(s.clustering.max_iterations(), 50);
  EXPECT_EQ(s.clustering.min_subset_size(), 3);
  EXPECT_FALSE(s.clustering.standardize());
  EXPECT_EQ(s.inference.top_n(), 2);
  EXPECT_EQ(s.inference.max_iterations(), 7);
  EXPECT_DOUBLE_EQ(s.inference.tolerance(), 0.5);
  EXPECT_EQ(s.inference.method(), distillery::specialists::CombineMethod::kGradient);
  const auto written = distillery::to_json(c).at("specialists");
  EXPECT_EQ(written.at("kmeans_iterations"), 50);
  EXPECT_EQ(written.at("method"), "gradient");
  EXPECT_EQ(written.at("standardize"), false);
  try {
    distillery::parse_config(R"({"generalist": {"model": {"architecture": "mlp"}},
        "specialists": {"kmeans_iterations": 0}})", "exp.json");
    FAIL();
  } catch (const distillery::ConfigError& e) {
    EXPECT_STREQ(e.what(), "exp.json: specialists.kmeans_iterations: must be in [1, 1000000], "
                           "got 0");
  }
}

TEST(ConfigSchema, SoftTargetsAreAModeOrAFile) {
  using distillery::SoftTargetsMode;
  using distillery::SoftTargetsSource;
  EXPECT_EQ(SoftTargetsSource::parse("auto").mode, SoftTargetsMode::kAuto);
  EXPECT_EQ(SoftTargetsSource::parse("online").mode, SoftTargetsMode::kOnline);
  const auto file = SoftTargetsSource::parse("runs/x/soft_targets.bin");
  EXPECT_TRUE(file.is_file());
  EXPECT_EQ(file.path, "runs/x/soft_targets.bin");
  for (const char* text : {"auto", "online", "st.bin"}) {
    EXPECT_EQ(SoftTargetsSource::parse(text).to_string(), text);
  }
  EXPECT_THROW(SoftTargetsSource::parse(""), distillery::ConfigError);
  const auto c = distillery::parse_config(R"({"student": {"model": {"architecture": "mlp"}},
      "teacher": {"model": {"architecture": "mlp"}},
      "distillation": {"soft_targets": "online"}})", "exp.json");
  EXPECT_EQ(c.distillation.soft_targets.mode, SoftTargetsMode::kOnline);
  EXPECT_EQ(distillery::to_json(c).at("distillation").at("soft_targets"), "online");
}

}  // namespace

#include <gtest/gtest.h>

#include "distillery/app/config.h"

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
  EXPECT_DOUBLE_EQ(c.distillation.loss.temperature(), 4.0);
  EXPECT_DOUBLE_EQ(c.distillation.loss.alpha(), 0.9);
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
  EXPECT_EQ(c.teacher.training.device(), torch::Device(torch::kCPU));
}

TEST(Config, MalformedJsonGivesLineAndColumn) {
  const auto message = error_of("{\n  \"name\": \"x\",\n  \"seed\": ,\n}");
  EXPECT_EQ(message.rfind("exp.json: malformed JSON at line 3, column 11: ", 0), 0u) << message;
}

TEST(Config, UnknownKeyIsNamedWithItsPath) {
  EXPECT_EQ(error_of(R"({"student": {"model": {"architecture": "mlp"}, "trainng": {}},
                        "teacher": {"model": {"architecture": "mlp"}}})"),
            "exp.json: student.trainng: unknown key (known keys here: model, scratch, training)");
  EXPECT_EQ(error_of(R"({"studnet": {}, "student": {"model": {"architecture": "mlp"}},
                        "teacher": {"model": {"architecture": "mlp"}}})"),
            "exp.json: studnet: unknown key (known keys here: data, device, distillation, generalist, "
            "name, out_dir, seed, specialists, student, teacher, threads)");
}

TEST(Config, WrongTypeIsNamedWithItsPath) {
  EXPECT_EQ(error_of(R"({"student": {"model": {"architecture": "mlp"}, "scratch": "no"},
                        "teacher": {"model": {"architecture": "mlp"}}})"),
            "exp.json: student.scratch: expected a boolean, got string (\"no\")");
  EXPECT_EQ(error_of(R"({"student": {"model": {"architecture": "mlp"},
                                     "training": {"epochs": "ten"}},
                        "teacher": {"model": {"architecture": "mlp"}}})"),
            "exp.json: student.training.epochs: expected an integer, got string (\"ten\")");
  EXPECT_EQ(error_of(R"({"student": {"model": {"architecture": "mlp"},
                                     "training": {"prefetch": 1}},
                        "teacher": {"model": {"architecture": "mlp"}}})"),
            "exp.json: student.training.prefetch: expected a boolean, got number (1)");
}

TEST(Config, PrefetchIsPerPhaseAndOffByDefault) {
  const auto c = distillery::parse_config(
      R"({"student": {"model": {"architecture": "mlp"}, "training": {"prefetch": true}},
          "teacher": {"model": {"architecture": "mlp"}}})",
      "exp.json");
  EXPECT_TRUE(c.student.training.prefetch());
  EXPECT_FALSE(c.teacher.training.prefetch());
  EXPECT_EQ(distillery::to_json(c)["student"]["training"]["prefetch"], true);
}

TEST(Config, InvalidValuesAreNamedWithTheirPath) {
  EXPECT_EQ(error_of(R"({"student": {"model": {"architecture": "mlp"}, "training": {"epochs": 0}},
                        "teacher": {"model": {"architecture": "mlp"}}})"),
            "exp.json: student.training: epochs must be in [1, 1000000], got 0");
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

TEST(Config, TeacherSourcesAreExclusive) {
  EXPECT_EQ(error_of(R"({"student": {"model": {"architecture": "mlp"}},
                        "teacher": {"model": {"architecture": "mlp"}, "checkpoint": "t.pt"}})"),
            "exp.json: teacher: give exactly one of \"model\" (to train, or with \"weights\"), "
            "\"checkpoint\", \"torchscript\" or \"members\"");
  EXPECT_EQ(error_of(R"({"student": {"model": {"architecture": "mlp"}}, "teacher": {}})"),
            "exp.json: teacher: give exactly one of \"model\" (to train, or with \"weights\"), "
            "\"checkpoint\", \"torchscript\" or \"members\"");
  EXPECT_EQ(error_of(R"({"student": {"model": {"architecture": "mlp"}},
                        "teacher": {"torchscript": "t.ts", "weights": "w.pt"}})"),
            "exp.json: teacher.weights: needs \"model\", the architecture to load into");
}

TEST(Config, EnsembleMembersGetTheirOwnSeeds) {
  const auto c = distillery::parse_config(
      R"({"seed": 10, "student": {"model": {"architecture": "mlp"}},
          "teacher": {"combine": "geometric", "members": [
             {"model": {"architecture": "mlp", "hidden": [8]}},
             {"model": {"architecture": "mlp", "hidden": [8]}, "seed": 99},
             {"torchscript": "t.ts"}]}})",
      "exp.json");
  ASSERT_EQ(c.teacher.members.size(), 3u);
  EXPECT_EQ(c.teacher.combine, distillery::EnsembleMode::kGeometric);
  EXPECT_EQ(c.teacher.members[0].training.seed(), 10u);
  EXPECT_EQ(c.teacher.members[1].training.seed(), 99u);
  EXPECT_EQ(c.teacher.members[2].torchscript, "t.ts");
  const auto again = distillery::parse_config(distillery::to_json(c).dump(), "resolved.json");
  EXPECT_EQ(distillery::to_json(again), distillery::to_json(c));
  EXPECT_EQ(error_of(R"({"student": {"model": {"architecture": "mlp"}},
                        "teacher": {"members": [{"members": []}]}})"),
            "exp.json: teacher.members[0].members: members cannot be nested");
  EXPECT_EQ(error_of(R"({"student": {"model": {"architecture": "mlp"}},
                        "teacher": {"combine": "median", "members": [{"torchscript": "a"}]}})"),
            "exp.json: teacher.combine: ensemble mode must be \"arithmetic\" or \"geometric\", "
            "got \"median\"");
}

TEST(Config, HostileInputGetsShortClearErrors) {
  const std::string deep = "{\"name\": " + std::string(100000, '[') + std::string(100000, ']') + "}";
  EXPECT_EQ(error_of(deep), "exp.json: JSON nested deeper than 64 levels at line 1");
  const auto overflow = error_of(R"({"seed": 1e400})");
  EXPECT_EQ(overflow.rfind("exp.json: unreadable JSON (", 0), 0u) << overflow;
  EXPECT_EQ(error_of(R"({"seed": 9223372036854775808, "student": {"model": {"architecture": "mlp"}},
                        "teacher": {"model": {"architecture": "mlp"}}})"),
            "exp.json: seed: 9223372036854775808 is out of range for an integer");
  std::string long_array = "[";
  for (int i = 0; i < 1000; ++i) long_array += std::to_string(i) + ",";
  long_array += "0]";
  const auto message = error_of("{\"seed\": " + long_array + "}");
  EXPECT_LT(message.size(), 140u) << message;
  EXPECT_EQ(error_of(R"({"threads": 100000, "student": {"model": {"architecture": "mlp"}},
                        "teacher": {"model": {"architecture": "mlp"}}})"),
            "exp.json: threads: threads must be in [0, 512], got 100000");
  EXPECT_EQ(error_of(R"({"device": "mps", "student": {"model": {"architecture": "mlp"}},
                        "teacher": {"model": {"architecture": "mlp"}}})"),
            "exp.json: device: device must be \"cpu\", \"cuda\" or \"cuda:N\", got \"mps\"");
  EXPECT_EQ(error_of(R"({"student": {"model": {"architecture": "mlp"}},
                        "teacher": {"model": {"architecture": "mlp"}},
                        "distillation": {"temperature": 1e300}})"),
            "exp.json: distillation.temperature: must be in [0.01, 10000], got " +
                std::to_string(1e300));
  EXPECT_EQ(error_of(R"({"out_dir": "", "student": {"model": {"architecture": "mlp"}},
                        "teacher": {"model": {"architecture": "mlp"}}})"),
            "exp.json: out_dir: must not be empty (give a path, or leave the key out)");
  EXPECT_EQ(error_of(R"({"out_dir": "/", "student": {"model": {"architecture": "mlp"}},
                        "teacher": {"model": {"architecture": "mlp"}}})"),
            "exp.json: out_dir: / is the root directory; give a directory of its own for the "
            "outputs");
  EXPECT_EQ(error_of(R"({"student": {"model": {"architecture": "mlp"}},
                        "teacher": {"model": {"architecture": "mlp"}, "weights": ""}})"),
            "exp.json: teacher.weights: must not be empty (give a path, or leave the key out)");
  EXPECT_EQ(error_of(R"({"data": {"dir": ""}, "student": {"model": {"architecture": "mlp"}},
                        "teacher": {"model": {"architecture": "mlp"}}})"),
            "exp.json: data.dir: must not be empty (give a path, or leave the key out)");
  EXPECT_EQ(error_of(R"({"data": {"train_limit": -1}})"),
            "exp.json: data.train_limit: must be >= 0, got -1");
  EXPECT_EQ(error_of(R"({"data": {"omit_classes": [3, 12]}})"),
            "exp.json: data.omit_classes: class 12 is outside [0, 10)");
  EXPECT_EQ(error_of(R"({"data": {"omit_classes": [3]}})"),
            "exp.json: data.heldout: must be > 0 with data.omit_classes, to choose the bias shift "
            "on images the student never saw (e.g. 5000)");
}

const char* kSpecialists = R"({
  "data": {"heldout": 500},
  "generalist": {"model": {"architecture": "mlp", "hidden": [16]}},
  "specialists": {"clusters": 4, "training": {"epochs": 2}, "method": "gradient", "top_n": 2}
})";

TEST(Config, SpecialistsSectionHasDefaultsAndRoundTrips) {
  const auto c = distillery::parse_config(kSpecialists, "exp.json");
  ASSERT_TRUE(c.specialists.has_value());
  EXPECT_FALSE(c.has_distillation);
  const auto& s = *c.specialists;
  EXPECT_EQ(s.clustering.clusters(), 4);
  EXPECT_EQ(s.clustering.restarts(), 10);
  EXPECT_EQ(s.cluster_on, distillery::ClusterOn::kHeldout);  // the default when data.heldout > 0
  EXPECT_EQ(s.training.epochs(), 2);
  EXPECT_DOUBLE_EQ(s.training.learning_rate(), 5e-4);  // fine-tuning default
  EXPECT_DOUBLE_EQ(s.loss.temperature(), 2.0);
  EXPECT_EQ(s.inference.top_n(), 2);
  EXPECT_EQ(s.inference.method(), distillery::specialists::CombineMethod::kGradient);
  EXPECT_TRUE(s.subsets.empty());
  const auto resolved = distillery::to_json(c);
  EXPECT_FALSE(resolved.contains("teacher"));
  EXPECT_EQ(distillery::to_json(distillery::parse_config(resolved.dump(), "r.json")), resolved);
  // Subsets by hand are normalised and replace the clustering.
  const auto given = distillery::parse_config(R"({
    "generalist": {"checkpoint": "g.pt"}, "specialists": {"subsets": [[6, 0, 2], [9, 5]]}})",
                                              "exp.json");
  EXPECT_EQ(given.specialists->subsets,
            (distillery::specialists::ClassSubsets{{0, 2, 6}, {5, 9}}));
  EXPECT_EQ(given.specialists->cluster_on, distillery::ClusterOn::kTrain);
}

TEST(Config, SpecialistsErrorsNameTheKey) {
  EXPECT_EQ(error_of(R"({"specialists": {}})"),
            "exp.json: generalist: required key is missing (the model whose classes the "
            "specialists split, e.g. {\"model\": {...}, \"training\": {...}} or "
            "{\"checkpoint\": \"generalist.pt\"})");
  EXPECT_EQ(error_of(R"({"generalist": {"torchscript": "g.ts"}, "specialists": {}})"),
            "exp.json: generalist.torchscript: the specialists copy the generalist's weights, so "
            "it must be a distillery model: give \"model\" (to train, or with \"weights\") or "
            "\"checkpoint\"");
  EXPECT_EQ(error_of(R"({"generalist": {"checkpoint": "g.pt"},
                        "specialists": {"clusters": 3, "subsets": [[0, 1]]}})"),
            "exp.json: specialists.clusters: give either \"clusters\" (to find the subsets) or "
            "\"subsets\" (by hand), not both");
  EXPECT_EQ(error_of(R"({"generalist": {"checkpoint": "g.pt"},
                        "specialists": {"subsets": [[0, 1], [1, 2]]}})"),
            "exp.json: specialists.subsets: subset 1: class 1 appears twice; subsets must be "
            "disjoint");
  EXPECT_EQ(error_of(R"({"generalist": {"checkpoint": "g.pt"},
                        "specialists": {"subsets": "/nonexistent/subsets.json"}})")
                .rfind("exp.json: specialists.subsets: cannot open /nonexistent/subsets.json", 0),
            0u);
  EXPECT_EQ(error_of(R"({"generalist": {"checkpoint": "g.pt"},
                        "specialists": {"cluster_on": "heldout"}})"),
            "exp.json: specialists.cluster_on: \"heldout\" needs data.heldout >= 2 (e.g. 5000)");
  EXPECT_EQ(error_of(R"({"generalist": {"checkpoint": "g.pt"}, "specialists": {"clusters": 11}})"),
            "exp.json: specialists.clusters: must be in [2, 10], got 11");
  EXPECT_EQ(error_of(R"({"generalist": {"checkpoint": "g.pt"}, "specialists": {"method": "lbfgs"}})"),
            "exp.json: specialists.method: must be \"multiplicative\" or \"gradient\", got "
            "\"lbfgs\"");
  EXPECT_EQ(error_of(R"({"generalist": {"checkpoint": "g.pt"},
                        "specialists": {"training": {"jitter_pixels": 2}}})"),
            "exp.json: specialists.training: no augmentation for specialists, got jitter_pixels = "
            "2 (their soft targets are the generalist's logits on the training images as they "
            "are)");
  EXPECT_EQ(error_of(R"({"generalist": {"checkpoint": "g.pt"},
                        "specialists": {"training": {"batch_size": 1}}})"),
            "exp.json: specialists.training.batch_size: must be >= 2 (half of each batch is from "
            "the specialist's classes), got 1");
  EXPECT_EQ(error_of(R"({"generalist": {"checkpoint": "g.pt"}, "specialists": {"clusters": 1}})"),
            "exp.json: specialists.clusters: must be in [2, 10], got 1");
  EXPECT_EQ(error_of(R"({"generalist": {"members": [{"checkpoint": "g.pt"}]}, "specialists": {}})"),
            "exp.json: generalist.members: the generalist must be one model, not an ensemble");
  EXPECT_EQ(error_of(R"({"generalist": {"checkpoint": "g.pt"},
                        "specialists": {"subsets": {"subsets": [[0, 1]], "bogus": 1}}})"),
            "exp.json: specialists.subsets: unknown key \"bogus\" (known: num_classes, subsets, "
            "subset_names)");
  EXPECT_EQ(error_of(R"({"generalist": {"checkpoint": "g.pt"}})"),
            "exp.json: generalist: given without a \"specialists\" section; a generalist is only "
            "used by `distillery specialists`");
}

}  // namespace

namespace {

TEST(Config, AKeyGivenTwiceIsNamedWithItsPath) {
  EXPECT_EQ(error_of(R"({"student": {"model": {"architecture": "mlp"},
                                     "training": {"epochs": 3, "epochs": 30}},
                        "teacher": {"model": {"architecture": "mlp"}}})"),
            "exp.json: student.training.epochs: key given twice; keep one");
  EXPECT_EQ(error_of(R"({"name": "a", "name": "b"})"), "exp.json: name: key given twice; keep one");
  EXPECT_EQ(error_of(R"({"student": {"model": {"architecture": "mlp"}},
                        "teacher": {"members": [{"checkpoint": "a.pt"},
                                                {"checkpoint": "b.pt", "checkpoint": "c.pt"}]}})"),
            "exp.json: teacher.members[1].checkpoint: key given twice; keep one");
  // The same key in two different objects is fine.
  EXPECT_EQ(error_of(R"({"student": {"model": {"architecture": "mlp", "hidden": [4]}},
                        "teacher": {"model": {"architecture": "mlp", "hidden": [8]}}})"),
            "<no error>");
}

TEST(Config, TheNameMustStayAPlainName) {
  const std::string student = R"("student": {"model": {"architecture": "mlp"}},
                                 "teacher": {"model": {"architecture": "mlp"}})";
  const std::string rule =
      "exp.json: name: must be a plain, non-empty name without '/', '\\' or control characters, "
      "and not \".\" or \"..\" (the default out_dir is runs/<name>); got ";
  EXPECT_EQ(error_of("{\"name\": \"\", " + student + "}"), rule + "\"\"");
  EXPECT_EQ(error_of("{\"name\": \"../../x\", " + student + "}"), rule + "\"../../x\"");
  EXPECT_EQ(error_of("{\"name\": \"..\", " + student + "}"), rule + "\"..\"");
  EXPECT_EQ(error_of("{\"name\": \"T=4, alpha 0.5\", " + student + "}"), "<no error>");
}

TEST(Config, StoredSoftTargetsWithJitterAreRefusedAtOnce) {
  EXPECT_EQ(error_of(R"({"student": {"model": {"architecture": "mlp"},
                                     "training": {"jitter_pixels": 2}},
                        "teacher": {"model": {"architecture": "mlp"}},
                        "distillation": {"soft_targets": "runs/x/soft_targets.bin"}})"),
            "exp.json: distillation.soft_targets: a file of stored soft targets cannot be used "
            "with student.training jitter_pixels = 2 (the teacher must see every augmented "
            "image); use \"online\", or \"auto\", which runs the teacher online for augmented "
            "images, or store augmented views (distillation.views)");
}

TEST(Config, WeightsKeyNeedsWeightsAndRoundTrips) {
  EXPECT_EQ(error_of(R"({"student": {"model": {"architecture": "mlp"}},
                        "teacher": {"checkpoint": "t.pt", "weights_key": "state_dict"}})"),
            "exp.json: teacher.weights_key: needs \"weights\", the state dict file to read");
  const auto c = distillery::parse_config(
      R"({"student": {"model": {"architecture": "mlp"}},
          "teacher": {"model": {"architecture": "mlp"}, "weights": "w.pt",
                      "weights_key": "model"}})",
      "exp.json");
  EXPECT_EQ(c.teacher.weights_key, "model");
  EXPECT_EQ(distillery::to_json(c).at("teacher").at("weights_key"), "model");
}

TEST(Config, TeacherSeedsStayWithinWhatTheResolvedConfigCanHold) {
  EXPECT_EQ(error_of(R"({"student": {"model": {"architecture": "mlp"}},
                        "teacher": {"model": {"architecture": "mlp"}, "seed": -1}})"),
            "exp.json: teacher.seed: must be >= 0, got -1");
  EXPECT_EQ(error_of(R"({"seed": 9223372036854775807, "student": {"model": {"architecture": "mlp"}},
                        "teacher": {"members": [{"model": {"architecture": "mlp"}},
                                                {"model": {"architecture": "mlp"}}]}})"),
            "exp.json: teacher.members: member i is seeded with seed + i, which passes "
            "9223372036854775807; give a smaller seed");
}

}  // namespace

namespace {

std::string data_error(const std::string& data) {
  return error_of(R"({"student": {"model": {"architecture": "mlp"}},
                      "teacher": {"model": {"architecture": "mlp"}}, "data": )" + data + "}");
}

TEST(Config, ImageFolderAndNpySettingsAreReadAndWrittenBack) {
  const auto c = distillery::parse_config(R"({
    "student": {"model": {"architecture": "mlp"}}, "teacher": {"model": {"architecture": "mlp"}},
    "data": {"dataset": "image-folder", "dir": "pets", "image_size": [24, 32], "resize": true,
             "grayscale": true, "omit_classes": [40], "heldout": 5}})", "exp.json");
  EXPECT_EQ(c.data.image_size, (std::vector<int64_t>{24, 32}));
  EXPECT_TRUE(c.data.resize);
  EXPECT_TRUE(c.data.grayscale);
  // The class count is the data's: class 40 is checked once the folders are read.
  EXPECT_EQ(c.data.omit_classes, (std::vector<int64_t>{40}));
  const auto back = distillery::to_json(c);
  EXPECT_EQ(back.at("data").at("image_size"), nlohmann::json::array({24, 32}));
  EXPECT_FALSE(back.at("data").contains("layout"));
  EXPECT_EQ(distillery::parse_config(back.dump(), "again.json").data.image_size, c.data.image_size);
  const auto npy = distillery::parse_config(
      R"({"student": {"model": {"architecture": "mlp"}}, "teacher": {"model": {"architecture": "mlp"}},
          "data": {"dataset": "npy", "dir": "arrays", "layout": "nhwc"}})", "exp.json");
  EXPECT_EQ(npy.data.layout, "nhwc");
  EXPECT_EQ(distillery::to_json(npy).at("data").at("layout"), "nhwc");
  EXPECT_EQ(distillery::dataset_classes("image-folder"), 0);
  EXPECT_EQ(distillery::dataset_classes("npy"), 0);
}

TEST(Config, ImageSettingsAreRefusedWhereTheyDoNotApply) {
  EXPECT_EQ(data_error(R"({"resize": true})"),
            "exp.json: data.resize: only for data.dataset image-folder, not fashion-mnist; "
            "remove it");
  EXPECT_EQ(data_error(R"({"dataset": "image-folder", "layout": "nhwc"})"),
            "exp.json: data.layout: only for data.dataset npy, not image-folder; remove it");
  EXPECT_EQ(data_error(R"({"dataset": "npy", "layout": "hwc"})"),
            "exp.json: data.layout: must be \"auto\", \"nhwc\", \"nchw\" or \"nhw\", got \"hwc\"");
  EXPECT_EQ(data_error(R"({"dataset": "image-folder", "image_size": [32]})"),
            "exp.json: data.image_size: must be [height, width] in pixels, each in [1, 8192]");
  EXPECT_EQ(data_error(R"({"dataset": "image-folder", "image_size": [0, 4]})"),
            "exp.json: data.image_size: must be [height, width] in pixels, each in [1, 8192]");
  EXPECT_EQ(data_error(R"({"dataset": "image-folder", "image_size": [100000, 4]})"),
            "exp.json: data.image_size: must be [height, width] in pixels, each in [1, 8192]");
  EXPECT_EQ(data_error(R"({"dataset": "image-folder", "resize": true})"),
            "exp.json: data.resize: needs data.image_size, the [height, width] to resize to");
  EXPECT_EQ(data_error(R"({"dataset": "image-folder", "omit_classes": [-1], "heldout": 5})"),
            "exp.json: data.omit_classes: class -1 is outside [0, the number of classes)");
  EXPECT_EQ(data_error(R"({"dataset": "cifar10", "omit_classes": [10], "heldout": 5})"),
            "exp.json: data.omit_classes: class 10 is outside [0, 10)");
  EXPECT_EQ(data_error(R"({"dataset": "imagenet"})"),
            "exp.json: data.dataset: must be one of fashion-mnist, mnist, cifar10, cifar100, "
            "cifar100-coarse, image-folder, npy, got \"imagenet\"");
}

}  // namespace

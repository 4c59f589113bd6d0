// End-to-end tests of model files through the `distillery` program: what `evaluate` reads from a
// model file, files given under the wrong config key, and how model sizes and costs are reported.

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <filesystem>
#include <nlohmann/json.hpp>
#include <regex>
#include <sstream>

#include "cli_util.h"
#include "distillery/app/model_specs.h"
#include "distillery/models.h"
#include "distillery/specialists/specialist.h"
#include "model_files.h"
#include "test_util.h"

namespace fs = std::filesystem;
using distillery::test::run_command;
using distillery::test::slurp;

namespace {

class CliModelsTest : public distillery::test::CliTest {
 protected:
  // `evaluate <model> --json <args>`, parsed; fails the test if it does not exit 0.
  nlohmann::json evaluate_json(const std::string& model, const std::string& args) {
    const auto e = run_command(cli("evaluate " + model + " --json " + args), dir);
    EXPECT_EQ(e.exit_code, 0) << e.output;
    const auto brace = e.stdout_text.find('{');
    return brace == std::string::npos ? nlohmann::json() : nlohmann::json::parse(e.stdout_text.substr(brace));
  }
  std::string fixture(const std::string& name) const {
    return std::string(DISTILLERY_FIXTURE_DIR) + "/" + name;
  }
  nlohmann::json config_json() const {
    return distillery::test::tiny_config(data_dir, out_dir);
  }
};

TEST_F(CliModelsTest, MnistModelIsEvaluatedWithTheNormalisationItWasTrainedWith) {
  auto c = config_json();
  c["data"]["dataset"] = "mnist";
  write(config, c.dump());
  const auto r = run_command(cli("run " + config), dir);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const auto results = nlohmann::json::parse(slurp(out_dir + "/results.json"));
  for (const char* name : {"teacher", "student_scratch", "student_distilled"}) {
    const auto eval = evaluate_json(out_dir + "/" + name + ".pt", "--data " + data_dir);
    EXPECT_EQ(eval.at("dataset"), "mnist") << name;
    EXPECT_EQ(eval.at("normalization").at("mean"), nlohmann::json::array({0.1307})) << name;
    EXPECT_EQ(eval.at("test_errors"), results.at(name).at("test_errors")) << name;
    EXPECT_EQ(eval.at("test_accuracy"), results.at(name).at("test_accuracy")) << name;
  }
  const auto text = run_command(cli("evaluate " + out_dir + "/teacher.pt --data " + data_dir), dir);
  EXPECT_NE(text.output.find(out_dir + "/teacher.pt (mnist): "), std::string::npos) << text.output;

  // --dataset may not contradict the file, and the Fashion-MNIST default directory is not
  // taken for an MNIST model.
  auto e = run_command(cli("evaluate " + out_dir + "/teacher.pt --dataset fashion-mnist --data " +
                           data_dir), dir);
  EXPECT_EQ(e.exit_code, 2);
  EXPECT_NE(e.output.find("--dataset fashion-mnist contradicts " + out_dir + "/teacher.pt, which "
                          "was trained on mnist and records its normalisation; drop --dataset (it "
                          "is for model files that do not record their data set)"),
            std::string::npos)
      << e.output;
  e = run_command(cli("evaluate " + out_dir + "/teacher.pt"), dir);
  EXPECT_EQ(e.exit_code, 2);
  EXPECT_NE(e.output.find(out_dir + "/teacher.pt was trained on mnist but --data defaults to the "
                                    "Fashion-MNIST directory /usr/share/datasets/fashion-mnist; "
                                    "give the mnist directory with --data"),
            std::string::npos)
      << e.output;

  // A file of an older distillery, without the record: --dataset says how to normalise.
  auto saved = distillery::load_model(out_dir + "/student_scratch.pt");
  distillery::test::write_model_file_without_data_record(dir.file("old.pt"), saved.model,
                                                         saved.spec, saved.input, 10);
  e = run_command(cli("evaluate " + dir.file("old.pt") + " --json --dataset mnist --data " +
                      data_dir), dir);
  ASSERT_EQ(e.exit_code, 0) << e.output;
  EXPECT_NE(e.output.find(dir.file("old.pt") + ": the file does not record its data set and "
                                               "normalisation (written by an older distillery); "
                                               "normalising as mnist"),
            std::string::npos)
      << e.output;
  const auto old = nlohmann::json::parse(e.stdout_text);
  EXPECT_EQ(old.at("test_errors"), results.at("student_scratch").at("test_errors"));
  EXPECT_EQ(old.at("dataset"), "mnist");
  // Without --dataset it is normalised as Fashion-MNIST, as every file was before the record:
  // the students then make other errors (so the comparisons above can tell the two apart).
  e = run_command(cli("evaluate " + dir.file("old.pt") + " --json --data " + data_dir), dir);
  ASSERT_EQ(e.exit_code, 0) << e.output;
  EXPECT_NE(e.output.find("normalising as fashion-mnist (the default; say --dataset mnist for an "
                          "MNIST model)"),
            std::string::npos)
      << e.output;
  const auto wrong = nlohmann::json::parse(e.stdout_text);
  EXPECT_NE(wrong.at("test_errors"), results.at("student_scratch").at("test_errors"));
}

TEST_F(CliModelsTest, SpecialistFileIsRefused) {
  const nlohmann::json spec = {{"architecture", "mlp"}, {"hidden", {8}}};
  auto generalist = distillery::build_model(spec, {1, 28, 28}, 10);
  auto specialist = distillery::specialists::make_specialist(
      generalist, [&] { return distillery::Model(distillery::build_model(spec, {1, 28, 28}, 10)); },
      10, {1, 4});
  distillery::ModelInfo info;
  info.dataset = "fashion-mnist";
  distillery::specialists::save_specialist(dir.file("specialist_0.pt"), specialist,
                                           distillery::model_record(spec, {1, 28, 28}, 10, info));
  const auto e = run_command(cli("evaluate " + dir.file("specialist_0.pt") + " --data " + data_dir), dir);
  EXPECT_EQ(e.exit_code, 1);
  EXPECT_NE(e.output.find(dir.file("specialist_0.pt") +
                          ": this is a specialist (classes [1,4] + dustbin), not a model of all "
                          "classes; `evaluate` scores whole models (teacher, students, "
                          "generalist); the specialists' test errors on their classes are in the "
                          "results.json of their run"),
            std::string::npos)
      << e.output;
}

TEST_F(CliModelsTest, TorchScriptTeacherIsCountedAndItsCostIsUnknown) {
  auto c = config_json();
  c["teacher"] = {{"torchscript", fixture("teacher_mlp.ts")}};
  write(config, c.dump());
  const auto r = run_command(cli("run " + config), dir);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const auto text = slurp(out_dir + "/results.json");
  const auto results = nlohmann::json::parse(text);
  EXPECT_EQ(results.at("teacher").at("parameters"), 784 * 8 + 8 + 8 * 10 + 10);
  EXPECT_TRUE(results.at("teacher").at("multiply_adds").is_null()) << results.dump();
  EXPECT_GT(results.at("student_distilled").at("multiply_adds").get<int64_t>(), 0);
  EXPECT_TRUE(std::regex_search(r.output, std::regex(R"(\nteacher +6370 +unknown +\d+ / 100 )")))
      << r.output;
  // No float noise: with 100 test images every accuracy is a whole number of hundredths.
  const std::regex accuracy(R"re("test_accuracy": ([0-9.e-]+))re");
  int count = 0;
  for (std::sregex_iterator it(text.begin(), text.end(), accuracy), end; it != end; ++it, ++count) {
    EXPECT_TRUE(std::regex_match((*it)[1].str(), std::regex(R"(1\.0|0\.[0-9]{1,2})")))
        << (*it)[1].str();
  }
  EXPECT_EQ(count, 3);
}

TEST_F(CliModelsTest, TeacherFilesUnderTheWrongKeySayWhichKeyToUse) {
  auto c = config_json();
  auto run_with_teacher = [&](const nlohmann::json& teacher) {
    c["teacher"] = teacher;
    write(config, c.dump());
    return run_command(cli("run " + config), dir);
  };
  auto r = run_with_teacher({{"checkpoint", fixture("state_dict_plain.pt")}});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find(fixture("state_dict_plain.pt") +
                          ": this is a PyTorch state dict or other torch.save file, not a "
                          "distillery model file; give it as \"weights\" together with \"model\" "
                          "(its architecture), not as \"checkpoint\""),
            std::string::npos)
      << r.output;
  r = run_with_teacher({{"checkpoint", fixture("teacher_mlp.ts")}});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find(fixture("teacher_mlp.ts") + ": this is a TorchScript file, not a "
                                                      "distillery model file; give it as "
                                                      "\"torchscript\", not as \"checkpoint\""),
            std::string::npos)
      << r.output;
  r = run_with_teacher({{"torchscript", fixture("teacher_tuple.ts")}});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find(fixture("teacher_tuple.ts") +
                          ": the TorchScript teacher returns a tuple; its forward must return the "
                          "logits tensor [B, C] (return only the logits)"),
            std::string::npos)
      << r.output;
  auto net = distillery::build_model({{"architecture", "mlp"}, {"hidden", {4}}}, {1, 28, 28}, 10);
  distillery::save_model(dir.file("m.pt"), net,
                         distillery::model_record({{"architecture", "mlp"}, {"hidden", {4}}},
                                                  {1, 28, 28}, 10));
  r = run_with_teacher({{"torchscript", dir.file("m.pt")}});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find(dir.file("m.pt") + ": this is a model file written by distillery, not "
                                             "TorchScript; give it as \"checkpoint\", not as "
                                             "\"torchscript\""),
            std::string::npos)
      << r.output;
}

// `distillery models`: every registered architecture, one a line, with real numbers.
TEST_F(CliModelsTest, ModelsListsEveryArchitectureWithItsSizeAndCost) {
  auto r = run_command(cli("models --classes 100 --input 3x32x32"), dir);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  std::istringstream lines(r.stdout_text);
  std::string line;
  std::vector<std::string> names;
  std::getline(lines, line);
  EXPECT_TRUE(std::regex_match(line, std::regex(R"(name\s+parameters\s+multiply_adds)"))) << line;
  while (std::getline(lines, line)) names.push_back(line.substr(0, line.find(' ')));
  EXPECT_EQ(names, distillery::list_models());
  // RepDistiller's counts at 100 classes (tests/test_zoo.cpp).
  for (const char* row : {R"(resnet8\s+83892\s+12507392)", R"(resnet32x4\s+7433860\s+1083040768)",
                          R"(wrn_16_2\s+703284\s+101118464)", R"(shufflev2\s+1355528\s+44504448)",
                          R"(vgg13\s+9462180\s+284936192)"}) {
    EXPECT_TRUE(std::regex_search(r.stdout_text, std::regex(std::string("(^|\n)") + row + "\n")))
        << row << "\n" << r.stdout_text;
  }
  // The defaults: 10 classes, 1x28x28 (Fashion-MNIST); the default MLP 784-800-800-10 has
  // 784*800+800 + 800*800+800 + 800*10+10 parameters and 784*800 + 800*800 + 800*10 multiply-adds.
  r = run_command(cli("models"), dir);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_TRUE(std::regex_search(r.stdout_text, std::regex(R"((^|\n)mlp\s+1276810\s+1275200\n)")))
      << r.stdout_text;
  // A shape too small for one architecture: that line says why, the others are counted.
  r = run_command(cli("models --input 1x4x4"), dir);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.stdout_text.find("vgg8 ") , std::string::npos);
  EXPECT_TRUE(std::regex_search(
      r.stdout_text, std::regex(R"((^|\n)vgg8\s+-\s+-\s+\(vgg8 needs images of at least 8 x 8 )"
                                R"(pixels \(three 2 x 2 poolings\), got 4x4\)\n)")))
      << r.stdout_text;
  EXPECT_TRUE(std::regex_search(r.stdout_text, std::regex(R"((^|\n)resnet8\s+\d+\s+\d+\n)")))
      << r.stdout_text;
}

TEST_F(CliModelsTest, ModelsRefusesABadInputShapeOrClassCount) {
  for (const char* shape : {"3x32", "3x32x0", "RGBx32x32", "3x32x32x1"}) {
    const auto r = run_command(cli(std::string("models --input ") + shape), dir);
    EXPECT_EQ(r.exit_code, 2) << r.output;
    EXPECT_NE(r.output.find(std::string("--input: expected CxHxW, channels x height x width in "
                                        "positive whole numbers (e.g. 3x32x32 or 1x28x28), got '") +
                            shape + "'"),
              std::string::npos)
        << r.output;
    EXPECT_EQ(r.stdout_text, "") << shape;
  }
  const auto r = run_command(cli("models --classes 0"), dir);
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(r.output.find("--classes"), std::string::npos) << r.output;
}

}  // namespace

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <sys/resource.h>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <limits>
#include <utility>

#include <nlohmann/json.hpp>

#include "distillery/models.h"
#include "model_files.h"
#include "test_util.h"

using distillery::InputShape;

namespace {

TEST(Models, MlpSizeAndCostFollowTheLayerWidths) {
  auto mlp = distillery::make_mlp(distillery::MLPOptions().hidden({800, 800}), {}, 10);
  // 784*800+800 + 800*800+800 + 800*10+10
  EXPECT_EQ(distillery::count_parameters(*mlp), 1276810);
  EXPECT_EQ(distillery::count_multiply_adds(mlp, {}), 784 * 800 + 800 * 800 + 800 * 10);
}

TEST(Models, ConvNetCostCountsEveryOutputElement) {
  auto net = distillery::make_convnet(
      distillery::ConvNetOptions().channels({4}).kernel_size(3).hidden({}).batch_norm(false).dropout(0),
      {1, 8, 8}, 2);
  // conv: 4 channels * 8*8 outputs * (1*3*3); head: (4*4*4) * 2.
  EXPECT_EQ(distillery::count_multiply_adds(net, {1, 8, 8}), 4 * 64 * 9 + 64 * 2);
  EXPECT_EQ(distillery::count_parameters(*net), 4 * 9 + 4 + 64 * 2 + 2);
}

const auto kSmallMlp = distillery::MLPOptions().hidden({4});
const auto kConvNet = distillery::ConvNetOptions().channels({4, 8}).hidden({16});

// The record of a zoo model: the spec is JSON text the core stores without reading it.
distillery::ModelRecord record_of(const std::string& spec, InputShape input, int64_t classes,
                                  const distillery::ModelInfo& info = {}) {
  distillery::ModelRecord record;
  record.spec = spec;
  record.input = input;
  record.num_classes = classes;
  record.info = info;
  return record;
}

const std::string kSmallMlpSpec = R"({"architecture":"mlp","hidden":[4]})";

std::string fixture(const std::string& name) {
  return std::string(DISTILLERY_FIXTURE_DIR) + "/" + name;
}

// The header save_model writes, as JSON (the file format, read here independently of the core).
nlohmann::json header_of(const std::string& path) {
  torch::serialize::InputArchive archive;
  archive.load_from(path);
  c10::IValue header;
  archive.read("distillery.spec", header);
  return nlohmann::json::parse(header.toStringRef());
}

TEST(ModelFiles, SaveAndLoadRoundTripsWeightsBuffersAndRecord) {
  distillery::test::TempDir dir;
  torch::manual_seed(3);
  auto model = distillery::make_convnet(kConvNet, {}, 10);
  model->train();
  model->forward(torch::randn({8, 1, 28, 28}));  // moves the BatchNorm running statistics
  model->eval();
  const auto x = torch::randn({5, 1, 28, 28});
  const auto expected = model->forward(x);
  auto record = record_of(R"({"architecture": "convnet", "channels": [4, 8], "hidden": [16]})",
                          {}, 10);
  record.metadata = R"({"note": "kept as JSON", "share": 0.1})";
  distillery::save_model(dir.file("m.pt"), model, record);
  const auto read = distillery::read_model_record(dir.file("m.pt"));
  EXPECT_EQ(read.spec, R"({"architecture":"convnet","channels":[4,8],"hidden":[16]})");
  EXPECT_EQ(read.metadata, R"({"note":"kept as JSON","share":0.1})");
  EXPECT_EQ(read.num_classes, 10);
  EXPECT_EQ(read.input.channels, 1);
  EXPECT_EQ(read.input.height, 28);
  auto fresh = distillery::make_convnet(kConvNet, {}, 10);
  distillery::load_model_weights(dir.file("m.pt"), fresh);
  fresh->eval();
  EXPECT_TRUE(torch::equal(fresh->forward(x), expected));
  // The file format: the record is a JSON header beside the weights.
  const auto header = header_of(dir.file("m.pt"));
  EXPECT_EQ(header.at("format"), "distillery-model-2");
  EXPECT_EQ(header.at("spec").at("channels"), nlohmann::json({4, 8}));
  EXPECT_EQ(header.at("input"), nlohmann::json({1, 28, 28}));
}

// Any module goes through the door: a network of one's own (not a Sequential) is saved by
// parameter name and loaded into a fresh one, without any spec.
struct ResidualImpl : torch::nn::Module {
  ResidualImpl()
      : inner(register_module("inner", torch::nn::Linear(6, 6))),
        head(register_module("head", torch::nn::Linear(6, 3))),
        scale(register_buffer("scale", torch::full({1}, 2.0))) {}
  torch::Tensor forward(const torch::Tensor& x) {
    const auto h = x.flatten(1);
    return head(h + scale * torch::relu(inner(h)));
  }
  torch::nn::Linear inner, head;
  torch::Tensor scale;
};
TORCH_MODULE(Residual);

TEST(ModelFiles, AModuleOfOnesOwnRoundTripsByName) {
  distillery::test::TempDir dir;
  torch::manual_seed(8);
  Residual net;
  {
    torch::NoGradGuard no_grad;
    net->scale.fill_(3.0);
  }
  distillery::ModelRecord record;  // spec "null": nothing to rebuild it from
  record.input = {1, 2, 3};
  record.num_classes = 3;
  distillery::save_model(dir.file("own.pt"), net, record);
  EXPECT_EQ(distillery::read_model_record(dir.file("own.pt")).spec, "null");
  Residual other;
  distillery::load_model_weights(dir.file("own.pt"), other);
  const auto x = torch::randn({4, 1, 2, 3});
  EXPECT_TRUE(torch::equal(other->forward(x), net->forward(x)));
  EXPECT_EQ(other->scale.item<float>(), 3.0f);
  // Weights of another architecture do not fit: the error says so, naming the file.
  auto mlp = distillery::make_mlp(kSmallMlp, {1, 2, 3}, 3);
  EXPECT_EQ(distillery::test::runtime_error_of(
                [&] { distillery::load_model_weights(dir.file("own.pt"), mlp); })
                .rfind(dir.file("own.pt") + ": the weights do not fit the model: ", 0),
            0u);
}

TEST(ModelFiles, WeightsThatDoNotMatchTheirChecksumAreRefused) {
  distillery::test::TempDir dir;
  auto model = distillery::make_mlp(kSmallMlp, {}, 10);
  const nlohmann::json header = {{"spec", nlohmann::json::parse(kSmallMlpSpec)},
                                 {"metadata", nullptr},
                                 {"input", {1, 28, 28}},
                                 {"num_classes", 10},
                                 {"format", "distillery-model-2"},
                                 {"fingerprint", "0123456789abcdef"}};
  torch::serialize::OutputArchive archive;
  archive.write("distillery.spec", c10::IValue(header.dump()));
  torch::serialize::OutputArchive weights;
  model->save(weights);
  archive.write("distillery.model", weights);
  archive.save_to(dir.file("m.pt"));
  EXPECT_EQ(distillery::test::runtime_error_of(
                [&] { distillery::load_model_weights(dir.file("m.pt"), model); }),
            dir.file("m.pt") + ": damaged model file: the weights do not match their checksum");
}

TEST(ModelFiles, ARecordThatIsNotJsonTextIsRefused) {
  distillery::test::TempDir dir;
  auto model = distillery::make_mlp(kSmallMlp, {}, 10);
  auto record = record_of("{\"architecture\": ", {}, 10);
  EXPECT_EQ(distillery::test::error_of_type<c10::Error>(
                [&] { distillery::save_model(dir.file("m.pt"), model, record); })
                .rfind("ModelRecord::spec must be JSON text: ", 0),
            0u);
  EXPECT_FALSE(std::filesystem::exists(dir.file("m.pt")));
}

TEST(ModelFiles, LoadingGarbageNamesTheFileAndNoProgram) {
  distillery::test::TempDir dir;
  distillery::test::write_bytes(dir.file("junk.pt"), {1, 2, 3, 4});
  try {
    distillery::read_model_record(dir.file("junk.pt"));
    FAIL();
  } catch (const distillery::ModelFileKindError& e) {
    const std::string message = e.what();
    EXPECT_EQ(e.kind(), distillery::ModelFileKind::kOther);
    EXPECT_EQ(message.rfind(dir.file("junk.pt") + ": not a distillery model file (", 0), 0u)
        << message;
    EXPECT_EQ(message.back(), ')') << message;  // what is wrong, and no advice to run anything
  }
  EXPECT_EQ(distillery::test::runtime_error_of(
                [&] { distillery::read_model_record(dir.file("absent.pt")); }),
            dir.file("absent.pt") + ": no such file");
  EXPECT_EQ(distillery::test::runtime_error_of([&] { distillery::read_model_record(dir.path()); }),
            dir.path() + ": not a regular file; give a model file (.pt)");
}

TEST(ModelFiles, SaveAndLoadRoundTripsTheDataRecord) {
  distillery::test::TempDir dir;
  distillery::data::Dataset set;
  set.images = torch::zeros({4, 3, 8, 8});
  set.labels = torch::tensor({0, 1, 0, 1}, torch::kInt64);
  set.num_classes = 2;
  set.name = "two-class";
  set.class_names = {"cat", "dog"};
  set.normalization = distillery::data::Normalization{0.5, 0.25};
  // The record travels with the parts of the set the experiment trains on.
  for (const auto& part : {set.head(2), set.slice(1, 2), set.without_classes({1})}) {
    EXPECT_EQ(part.name, "two-class");
    EXPECT_EQ(part.class_names, set.class_names);
    ASSERT_TRUE(part.normalization.has_value());
    EXPECT_EQ(part.normalization->std, std::vector<double>{0.25});
  }
  const auto info = distillery::model_info_of(set);
  EXPECT_EQ(info.mean, (std::vector<double>{0.5, 0.5, 0.5}));  // one entry per channel
  auto model = distillery::make_mlp(kSmallMlp, {3, 8, 8}, 2);
  distillery::save_model(dir.file("m.pt"), model, record_of(kSmallMlpSpec, {3, 8, 8}, 2, info));
  const auto loaded = distillery::read_model_record(dir.file("m.pt"));
  EXPECT_EQ(loaded.info.dataset, "two-class");
  EXPECT_EQ(loaded.info.class_names, (std::vector<std::string>{"cat", "dog"}));
  EXPECT_EQ(loaded.info.mean, (std::vector<double>{0.5, 0.5, 0.5}));
  EXPECT_EQ(loaded.info.std, (std::vector<double>{0.25, 0.25, 0.25}));
  EXPECT_EQ(loaded.input.channels, 3);
  // A set built by hand records nothing.
  const auto unknown = distillery::model_info_of(distillery::data::Dataset{});
  EXPECT_EQ(unknown.dataset, "unknown");
  EXPECT_FALSE(unknown.has_normalization());
  distillery::save_model(dir.file("u.pt"), model, record_of(kSmallMlpSpec, {3, 8, 8}, 2, unknown));
  EXPECT_EQ(header_of(dir.file("u.pt")).at("data").dump(),
            R"({"class_names":[],"dataset":"unknown","normalization":null})");
}

TEST(ModelFiles, DataRecordThatDoesNotFitTheModelIsRefused) {
  distillery::test::TempDir dir;
  auto model = distillery::make_mlp(kSmallMlp, {}, 10);
  distillery::ModelInfo info;
  info.class_names = {"a", "b", "c"};
  EXPECT_EQ(distillery::test::error_of_type<c10::Error>([&] {
              distillery::save_model(dir.file("m.pt"), model,
                                     record_of(kSmallMlpSpec, {}, 10, info));
            }),
            "3 class names for 10 classes");
  info.class_names.clear();
  info.mean = {0.1, 0.1};
  info.std = {0.3, 0.3};
  EXPECT_EQ(distillery::test::error_of_type<c10::Error>([&] {
              distillery::save_model(dir.file("m.pt"), model,
                                     record_of(kSmallMlpSpec, {}, 10, info));
            }),
            "a normalisation of 2 means and 2 standard deviations for 1 input channel(s)");
  EXPECT_FALSE(std::filesystem::exists(dir.file("m.pt")));
}

TEST(ModelFiles, FileWithoutTheDataRecordStillLoadsAsUnknown) {
  distillery::test::TempDir dir;
  torch::manual_seed(4);
  auto model = distillery::make_mlp(kSmallMlp, {}, 10);
  model->eval();
  distillery::test::write_model_file_without_data_record(
      dir.file("old.pt"), model, nlohmann::json::parse(kSmallMlpSpec), {}, 10);
  const auto record = distillery::read_model_record(dir.file("old.pt"));
  EXPECT_EQ(record.info.dataset, "unknown");
  EXPECT_TRUE(record.info.class_names.empty());
  EXPECT_FALSE(record.info.has_normalization());
  EXPECT_EQ(record.spec, kSmallMlpSpec);
  EXPECT_EQ(record.metadata, "null");
  auto fresh = distillery::make_mlp(kSmallMlp, {}, 10);
  distillery::load_model_weights(dir.file("old.pt"), fresh);
  const auto x = torch::randn({2, 1, 28, 28});
  EXPECT_TRUE(torch::equal(fresh->forward(x), model->forward(x)));
}

bool has_temporary_files(const std::string& directory) {
  for (const auto& entry : std::filesystem::directory_iterator(directory)) {
    if (entry.path().filename().string().find(".tmp") != std::string::npos) return true;
  }
  return false;
}

// A disk that fills up during the write (here: a file size limit of 64 KiB, which makes write()
// fail with EFBIG as a full disk makes it fail with ENOSPC) must give an exception naming the
// path, not LibTorch's std::terminate; the last good file stays and no temporary is left.
// (The "threadsafe" death test runs this whole test again in a fresh child process, which
// checks its own directory and removes it.)
TEST(ModelsDeathTest, AFailedWriteIsAnErrorNamingThePathNotAnAbort) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  distillery::test::TempDir dir;
  const auto path = dir.file("m.pt");
  auto model = distillery::make_mlp(distillery::MLPOptions().hidden({64}), {}, 10);
  const auto record = record_of(R"({"architecture":"mlp","hidden":[64]})", {}, 10);
  distillery::save_model(path, model, record);
  const auto good = distillery::test::slurp(path);
  ASSERT_GT(good.size(), 65536u);
  auto save_with_a_full_disk = [&] {
    std::signal(SIGXFSZ, SIG_IGN);
    const rlimit limit{65536, 65536};
    setrlimit(RLIMIT_FSIZE, &limit);
    int code = 2;  // no exception
    try {
      distillery::save_model(path, model, record);
    } catch (const std::runtime_error& e) {
      std::fprintf(stderr, "%s\n", e.what());
      code = has_temporary_files(dir.path()) ? 3 : distillery::test::slurp(path) != good ? 4 : 0;
    }
    std::error_code ec;
    std::filesystem::remove_all(dir.path(), ec);
    std::exit(code);
  };
  EXPECT_EXIT(save_with_a_full_disk(), ::testing::ExitedWithCode(0),
              "cannot write /.*/m\\.pt: ");
}

TEST(ModelFiles, SavingWhereNoDirectoryCanBeMadeNamesThePath) {
  distillery::test::TempDir dir;
  distillery::test::write_bytes(dir.file("plain_file"), {1});
  auto model = distillery::make_mlp(kSmallMlp, {}, 10);
  EXPECT_EQ(distillery::test::runtime_error_of([&] {
              distillery::save_model(dir.file("plain_file/m.pt"), model,
                                     record_of(kSmallMlpSpec, {}, 10));
            }),
            "cannot create directory " + dir.file("plain_file") + " for " +
                dir.file("plain_file/m.pt") + ": Not a directory");
}

// The core says what a misplaced file is; the kind travels with the error (the application
// layer adds which config key takes it, tests/app/test_model_specs.cpp).
TEST(ModelFiles, FilesOfOtherKindsSayWhatTheyAre) {
  distillery::test::TempDir dir;
  auto model = distillery::make_mlp(kSmallMlp, {}, 10);
  distillery::save_model(dir.file("m.pt"), model, record_of(kSmallMlpSpec, {}, 10));
  distillery::test::write_bytes(dir.file("junk.pt"), {1, 2, 3, 4});
  using distillery::ModelFileKind;
  EXPECT_EQ(distillery::detect_model_file_kind(dir.file("m.pt")), ModelFileKind::kDistilleryModel);
  EXPECT_EQ(distillery::detect_model_file_kind(fixture("teacher_mlp.ts")), ModelFileKind::kTorchScript);
  EXPECT_EQ(distillery::detect_model_file_kind(fixture("state_dict_plain.pt")), ModelFileKind::kPickle);
  EXPECT_EQ(distillery::detect_model_file_kind(dir.file("junk.pt")), ModelFileKind::kOther);
  EXPECT_EQ(distillery::detect_model_file_kind(dir.file("absent.pt")), ModelFileKind::kOther);
  auto kind_error_of = [](const std::string& path) {
    try {
      distillery::read_model_record(path);
    } catch (const distillery::ModelFileKindError& e) {
      return std::make_pair(std::string(e.what()), e.kind());
    }
    return std::make_pair(std::string("<no error>"), ModelFileKind::kDistilleryModel);
  };
  EXPECT_EQ(kind_error_of(fixture("state_dict_plain.pt")),
            std::make_pair(fixture("state_dict_plain.pt") +
                               ": this is a PyTorch state dict or other torch.save file, not a "
                               "distillery model file",
                           ModelFileKind::kPickle));
  EXPECT_EQ(kind_error_of(fixture("teacher_mlp.ts")),
            std::make_pair(fixture("teacher_mlp.ts") +
                               ": this is a TorchScript file, not a distillery model file",
                           ModelFileKind::kTorchScript));
}

TEST(Models, AbsurdWidthsAreRefusedBeforeAllocating) {
  try {
    distillery::make_mlp(distillery::MLPOptions().hidden({1000000000000}), {}, 10);
    FAIL();
  } catch (const c10::Error& e) {
    EXPECT_EQ(e.msg(), "MLP hidden width must be in [1, 65536], got 1000000000000");
  }
}

}  // namespace

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <sys/resource.h>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <limits>

#include "distillery/json_fields.h"
#include "distillery/models.h"
#include "model_files.h"
#include "test_util.h"

using distillery::InputShape;

namespace {

// A minimal spec for every registered architecture (defaults for the rest).
nlohmann::json spec_for(const std::string& name) { return {{"architecture", name}}; }

TEST(Models, EveryRegisteredArchitectureMapsImagesToLogits) {
  const auto names = distillery::list_models();
  EXPECT_EQ(names, (std::vector<std::string>{"convnet", "mlp"}));
  for (const auto& name : names) {
    torch::manual_seed(0);
    auto model = distillery::build_model(spec_for(name), InputShape{1, 28, 28}, 7);
    model->eval();
    const auto out = model->forward(torch::randn({3, 1, 28, 28}));
    EXPECT_EQ(out.sizes(), (std::vector<int64_t>{3, 7})) << name;
    EXPECT_GT(distillery::count_parameters(*model), 0) << name;
    EXPECT_GT(distillery::count_multiply_adds(model, InputShape{1, 28, 28}), 0) << name;
  }
}

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

TEST(Models, UnknownArchitectureAndKeysAreConfigErrors) {
  try {
    distillery::build_model({{"architecture", "resnet9000"}}, {}, 10, "student.model");
    FAIL();
  } catch (const distillery::ConfigError& e) {
    EXPECT_STREQ(e.what(), "student.model.architecture: unknown architecture 'resnet9000' "
                           "(known: convnet, mlp)");
  }
  try {
    distillery::build_model({{"architecture", "mlp"}, {"hiden", {10}}}, {}, 10, "student.model");
    FAIL();
  } catch (const distillery::ConfigError& e) {
    EXPECT_STREQ(e.what(), "student.model.hiden: unknown key (known keys here: dropout, hidden)");
  }
  try {
    distillery::build_model({{"architecture", "mlp"}, {"hidden", "800"}}, {}, 10, "m");
    FAIL();
  } catch (const distillery::ConfigError& e) {
    EXPECT_STREQ(e.what(), "m.hidden: expected an array of integers, got string (\"800\")");
  }
}

TEST(Models, SaveAndLoadRoundTripsWeightsBuffersAndArchitecture) {
  distillery::test::TempDir dir;
  torch::manual_seed(3);
  const nlohmann::json spec = {{"architecture", "convnet"}, {"channels", {4, 8}}, {"hidden", {16}}};
  auto model = distillery::build_model(spec, {}, 10);
  model->train();
  model->forward(torch::randn({8, 1, 28, 28}));  // moves the BatchNorm running statistics
  model->eval();
  const auto x = torch::randn({5, 1, 28, 28});
  const auto expected = model->forward(x);
  distillery::save_model(dir.file("m.pt"), model, spec, {}, 10, {});
  auto loaded = distillery::load_model(dir.file("m.pt"));
  EXPECT_EQ(loaded.spec, spec);
  EXPECT_EQ(loaded.num_classes, 10);
  EXPECT_TRUE(torch::equal(loaded.model->forward(x), expected));
}

TEST(Models, LoadingGarbageNamesTheFile) {
  distillery::test::TempDir dir;
  distillery::test::write_bytes(dir.file("junk.pt"), {1, 2, 3, 4});
  try {
    distillery::load_model(dir.file("junk.pt"));
    FAIL();
  } catch (const std::runtime_error& e) {
    const std::string message = e.what();
    EXPECT_EQ(message.rfind(dir.file("junk.pt") + ": not a distillery model file (", 0), 0u)
        << message;
    EXPECT_NE(message.find("); give a file written by distillery (run, train, specialists) or "
                           "distillery::save_model"),
              std::string::npos)
        << message;
  }
}

std::string fixture(const std::string& name) {
  return std::string(DISTILLERY_FIXTURE_DIR) + "/" + name;
}

const nlohmann::json kSmallMlp = {{"architecture", "mlp"}, {"hidden", {4}}};

TEST(Models, SaveAndLoadRoundTripsTheDataRecord) {
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
    EXPECT_EQ(part.normalization->std, 0.25);
  }
  const auto info = distillery::model_info_of(set);
  EXPECT_EQ(info.mean, (std::vector<double>{0.5, 0.5, 0.5}));  // one entry per channel
  auto model = distillery::build_model(kSmallMlp, {3, 8, 8}, 2);
  distillery::save_model(dir.file("m.pt"), model, kSmallMlp, {3, 8, 8}, 2, info);
  const auto loaded = distillery::load_model(dir.file("m.pt"));
  EXPECT_EQ(loaded.info.dataset, "two-class");
  EXPECT_EQ(loaded.info.class_names, (std::vector<std::string>{"cat", "dog"}));
  EXPECT_EQ(loaded.info.mean, (std::vector<double>{0.5, 0.5, 0.5}));
  EXPECT_EQ(loaded.info.std, (std::vector<double>{0.25, 0.25, 0.25}));
  EXPECT_EQ(loaded.input.channels, 3);
  // A set built by hand records nothing.
  const auto unknown = distillery::model_info_of(distillery::data::Dataset{});
  EXPECT_EQ(unknown.dataset, "unknown");
  EXPECT_FALSE(unknown.has_normalization());
  EXPECT_EQ(distillery::to_json(unknown).dump(),
            R"({"class_names":[],"dataset":"unknown","normalization":null})");
}

TEST(Models, DataRecordThatDoesNotFitTheModelIsRefused) {
  distillery::test::TempDir dir;
  auto model = distillery::build_model(kSmallMlp, {}, 10);
  distillery::ModelInfo info;
  info.class_names = {"a", "b", "c"};
  EXPECT_EQ(distillery::test::error_of_type<c10::Error>(
                [&] { distillery::save_model(dir.file("m.pt"), model, kSmallMlp, {}, 10, info); }),
            "3 class names for 10 classes");
  info.class_names.clear();
  info.mean = {0.1, 0.1};
  info.std = {0.3, 0.3};
  EXPECT_EQ(distillery::test::error_of_type<c10::Error>(
                [&] { distillery::save_model(dir.file("m.pt"), model, kSmallMlp, {}, 10, info); }),
            "a normalisation of 2 means and 2 standard deviations for 1 input channel(s)");
  EXPECT_FALSE(std::filesystem::exists(dir.file("m.pt")));
}

TEST(Models, FileWithoutTheDataRecordStillLoadsAsUnknown) {
  distillery::test::TempDir dir;
  torch::manual_seed(4);
  auto model = distillery::build_model(kSmallMlp, {}, 10);
  model->eval();
  distillery::test::write_model_file_without_data_record(dir.file("old.pt"), model, kSmallMlp,
                                                         {}, 10);
  auto loaded = distillery::load_model(dir.file("old.pt"));
  EXPECT_EQ(loaded.info.dataset, "unknown");
  EXPECT_TRUE(loaded.info.class_names.empty());
  EXPECT_FALSE(loaded.info.has_normalization());
  const auto x = torch::randn({2, 1, 28, 28});
  EXPECT_TRUE(torch::equal(loaded.model->forward(x), model->forward(x)));
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
  const nlohmann::json spec = {{"architecture", "mlp"}, {"hidden", {64}}};
  auto model = distillery::build_model(spec, {}, 10);
  distillery::save_model(path, model, spec, {}, 10, {});
  const auto good = distillery::test::slurp(path);
  ASSERT_GT(good.size(), 65536u);
  auto save_with_a_full_disk = [&] {
    std::signal(SIGXFSZ, SIG_IGN);
    const rlimit limit{65536, 65536};
    setrlimit(RLIMIT_FSIZE, &limit);
    int code = 2;  // no exception
    try {
      distillery::save_model(path, model, spec, {}, 10, {});
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

TEST(Models, SavingWhereNoDirectoryCanBeMadeNamesThePath) {
  distillery::test::TempDir dir;
  distillery::test::write_bytes(dir.file("plain_file"), {1});
  auto model = distillery::build_model(kSmallMlp, {}, 10);
  EXPECT_EQ(distillery::test::runtime_error_of([&] {
              distillery::save_model(dir.file("plain_file/m.pt"), model, kSmallMlp, {}, 10, {});
            }),
            "cannot create directory " + dir.file("plain_file") + " for " +
                dir.file("plain_file/m.pt") + ": Not a directory");
}

TEST(Models, FilesOfOtherKindsAreNamedWithTheConfigKeyToUse) {
  distillery::test::TempDir dir;
  auto model = distillery::build_model(kSmallMlp, {}, 10);
  distillery::save_model(dir.file("m.pt"), model, kSmallMlp, {}, 10, {});
  distillery::test::write_bytes(dir.file("junk.pt"), {1, 2, 3, 4});
  using distillery::ModelFileKind;
  EXPECT_EQ(distillery::detect_model_file_kind(dir.file("m.pt")), ModelFileKind::kDistilleryModel);
  EXPECT_EQ(distillery::detect_model_file_kind(fixture("teacher_mlp.ts")), ModelFileKind::kTorchScript);
  EXPECT_EQ(distillery::detect_model_file_kind(fixture("state_dict_plain.pt")), ModelFileKind::kPickle);
  EXPECT_EQ(distillery::detect_model_file_kind(dir.file("junk.pt")), ModelFileKind::kOther);
  EXPECT_EQ(distillery::detect_model_file_kind(dir.file("absent.pt")), ModelFileKind::kOther);
  EXPECT_EQ(distillery::test::runtime_error_of(
                [&] { distillery::load_model(fixture("state_dict_plain.pt")); }),
            fixture("state_dict_plain.pt") +
                ": this is a PyTorch state dict or other torch.save file, not a distillery model "
                "file; give it as \"weights\" together with \"model\" (its architecture), not "
                "as \"checkpoint\"");
  EXPECT_EQ(distillery::test::runtime_error_of(
                [&] { distillery::load_model(fixture("teacher_mlp.ts")); }),
            fixture("teacher_mlp.ts") + ": this is a TorchScript file, not a distillery model "
                                        "file; give it as \"torchscript\", not as \"checkpoint\"");
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

TEST(Models, MaxPool2x2WithoutGradGivesTheValuesOfMaxPool2d) {
  torch::manual_seed(5);
  distillery::MaxPool2x2 pool;
  for (const auto& shape : {std::vector<int64_t>{3, 4, 28, 28}, std::vector<int64_t>{2, 3, 7, 9},
                            std::vector<int64_t>{1, 1, 2, 3}}) {
    auto x = torch::randn(shape);
    x.view(-1)[1] = std::numeric_limits<float>::quiet_NaN();  // NaN propagates, as in max_pool2d
    x.view(-1)[x.numel() - 1] = -std::numeric_limits<float>::infinity();
    torch::NoGradGuard no_grad;
    const auto fast = pool->forward(x), reference = torch::max_pool2d(x, 2);
    ASSERT_EQ(fast.sizes(), reference.sizes());
    EXPECT_TRUE(torch::equal(fast.isnan(), reference.isnan()));
    EXPECT_TRUE(torch::equal(fast.nan_to_num(0), reference.nan_to_num(0)));
    EXPECT_TRUE(std::isnan(fast[0][0][0][0].item<float>()));
  }
}

TEST(Models, MaxPool2x2WithGradRoutesTheGradientLikeMaxPool2d) {
  torch::manual_seed(6);
  distillery::MaxPool2x2 pool;
  const auto x = torch::randn({2, 3, 6, 5}).requires_grad_(true);
  const auto weights = torch::randn({2, 3, 3, 2});  // d loss / d output
  const auto out = pool->forward(x);
  (out * weights).sum().backward();
  // The reference, by hand: each 2x2 window (stride 2; the fifth column is dropped) passes its
  // output's gradient to the position of its maximum (the first one in row-major order) and
  // nothing to the other three; the windows do not overlap, so nothing adds up.
  const auto input = x.detach();
  auto expected_out = torch::zeros({2, 3, 3, 2});
  auto expected_grad = torch::zeros({2, 3, 6, 5});
  const auto xa = input.accessor<float, 4>();
  const auto wa = weights.accessor<float, 4>();
  auto oa = expected_out.accessor<float, 4>();
  auto ga = expected_grad.accessor<float, 4>();
  for (int64_t b = 0; b < 2; ++b) {
    for (int64_t c = 0; c < 3; ++c) {
      for (int64_t i = 0; i < 3; ++i) {
        for (int64_t j = 0; j < 2; ++j) {
          int64_t row = 2 * i, col = 2 * j;
          for (int64_t r = 2 * i; r < 2 * i + 2; ++r) {
            for (int64_t s = 2 * j; s < 2 * j + 2; ++s) {
              if (xa[b][c][r][s] > xa[b][c][row][col]) row = r, col = s;
            }
          }
          oa[b][c][i][j] = xa[b][c][row][col];
          ga[b][c][row][col] = wa[b][c][i][j];
        }
      }
    }
  }
  EXPECT_TRUE(torch::equal(out.detach(), expected_out));
  EXPECT_TRUE(torch::equal(x.grad(), expected_grad));
  EXPECT_EQ(x.grad().ne(0).sum().item<int64_t>(), 2 * 3 * 3 * 2);  // one position per window
  try {
    pool->forward(torch::zeros({1, 1, 1, 4}));
    FAIL() << "1 x 4 input accepted";
  } catch (const c10::Error& e) {
    EXPECT_EQ(e.msg(), "MaxPool2x2 needs [B, C, H, W] input with H, W >= 2, got shape [1, 1, 1, 4]");
  }
}

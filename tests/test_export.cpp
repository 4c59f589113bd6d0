// ONNX export (export.h), verified rather than assumed: every zoo model, the MLP, the ConvNet
// and a module of one's own are exported, checked by the ONNX checker and run in onnxruntime
// (tests/scripts/check_onnx.py, in the project's .venv) against LibTorch's logits at batch 1
// and 7, with the inputs made from uint8 pixels the way the trainer makes them.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include <algorithm>
#include <cstdio>
#include <map>
#include <functional>
#include <fstream>
#include <string>
#include <vector>

#include "distillery/data/dataset.h"
#include "distillery/export.h"
#include "distillery/model_size.h"
#include "distillery/models.h"
#include "distillery/version.h"
#include "distillery/zoo/zoo.h"
#include "test_util.h"

namespace {

namespace dd = distillery::data;
using distillery::InputShape;
using distillery::Model;
using distillery::test::TempDir;

// Random BatchNorm statistics and affine parameters, so that a wrong fold shows.
void randomise_batch_norms(const Model& model) {
  torch::NoGradGuard no_grad;
  for (const auto& m : model->modules()) {
    if (auto* bn = m->as<torch::nn::BatchNorm2dImpl>()) {
      bn->running_mean.uniform_(-0.5, 0.5);
      bn->running_var.uniform_(0.5, 2.0);
      bn->weight.uniform_(0.5, 1.5);
      bn->bias.uniform_(-0.3, 0.3);
    }
  }
}

void write_floats(const std::string& path, const torch::Tensor& t) {
  const auto c = t.detach().to(torch::kFloat32).contiguous();
  std::ofstream(path, std::ios::binary)
      .write(static_cast<const char*>(c.data_ptr()), static_cast<std::streamsize>(c.nbytes()));
}

// A normalisation per channel (the first `channels` of these).
const std::vector<double> kMeans{0.49, 0.48, 0.45}, kStds{0.25, 0.24, 0.26};

// Exports `model` to `<dir>/<name>.onnx` and adds a case per batch size to `cases`: uint8
// pixels, their inputs as the trainer makes them (Dataset::inputs), LibTorch's logits.
distillery::OnnxExportSummary add_cases(const TempDir& dir, const std::string& name,
                                        const Model& model, InputShape input,
                                        nlohmann::json& cases) {
  distillery::ModelInfo info;
  info.mean.assign(kMeans.begin(), kMeans.begin() + input.channels);
  info.std.assign(kStds.begin(), kStds.begin() + input.channels);
  const auto summary = distillery::export_onnx(model, input, dir.file(name + ".onnx"),
                                               distillery::OnnxExportOptions().info(info));
  torch::manual_seed(7);
  for (const int64_t batch : {1, 7}) {
    dd::Dataset set;
    set.images = torch::randint(0, 256, {batch, input.channels, input.height, input.width},
                                torch::kUInt8);
    set.normalization = dd::Normalization(info.mean, info.std);
    torch::NoGradGuard no_grad;
    model->eval();
    const auto logits = model.forward(set.inputs(0, batch));
    const auto stem = name + "_" + std::to_string(batch);
    write_floats(dir.file(stem + "_pixels.bin"), set.images.to(torch::kFloat32).div(255));
    write_floats(dir.file(stem + "_logits.bin"), logits);
    cases.push_back({{"model", name + ".onnx"}, {"pixels", stem + "_pixels.bin"},
                     {"logits", stem + "_logits.bin"},
                     {"shape", {batch, input.channels, input.height, input.width}},
                     {"classes", logits.size(1)}});
  }
  return summary;
}

// check_onnx.py's verdict on every case, one JSON object each.
std::vector<nlohmann::json> check_in_onnxruntime(const TempDir& dir, const nlohmann::json& cases) {
  std::ofstream(dir.file("cases.json")) << cases.dump();
  const auto command = std::string(DISTILLERY_VENV_PYTHON) + " " + DISTILLERY_CHECK_ONNX + " " +
                       dir.file("cases.json") + " 2>&1";
  FILE* pipe = popen(command.c_str(), "r");
  EXPECT_NE(pipe, nullptr);
  std::string output;
  char buffer[4096];
  while (pipe != nullptr && fgets(buffer, sizeof buffer, pipe) != nullptr) output += buffer;
  const int status = pipe == nullptr ? -1 : pclose(pipe);
  EXPECT_EQ(status, 0) << output;
  std::vector<nlohmann::json> verdicts;
  std::size_t at = 0;
  while (status == 0 && at < output.size()) {
    const auto end = output.find('\n', at);
    verdicts.push_back(nlohmann::json::parse(output.substr(at, end - at)));
    at = end == std::string::npos ? output.size() : end + 1;
  }
  return verdicts;
}

// A user's module: conv, BatchNorm, ReLU, a reshape by x.size(0), a linear layer.
struct OwnNetImpl : torch::nn::Module {
  OwnNetImpl() {
    conv = register_module("conv", torch::nn::Conv2d(torch::nn::Conv2dOptions(1, 4, 3).stride(2)));
    norm = register_module("norm", torch::nn::BatchNorm2d(4));
    fc = register_module("fc", torch::nn::Linear(4 * 13 * 13, 5));
  }
  torch::Tensor forward(const torch::Tensor& x) {
    auto h = torch::relu(norm->forward(conv->forward(x)));
    return fc->forward(h.view({x.size(0), -1}));
  }
  torch::nn::Conv2d conv{nullptr};
  torch::nn::BatchNorm2d norm{nullptr};
  torch::nn::Linear fc{nullptr};
};
TORCH_MODULE(OwnNet);

struct GeluNetImpl : torch::nn::Module {
  GeluNetImpl() { fc = register_module("fc", torch::nn::Linear(4, 3)); }
  torch::Tensor forward(const torch::Tensor& x) { return torch::gelu(fc->forward(x.flatten(1))); }
  torch::nn::Linear fc{nullptr};
};
TORCH_MODULE(GeluNet);

bool have_onnxruntime() { return std::string(DISTILLERY_VENV_PYTHON).size() > 0; }

void expect_agreement(const std::vector<nlohmann::json>& verdicts, std::size_t expected) {
  ASSERT_EQ(verdicts.size(), expected);
  for (const auto& v : verdicts) {
    std::printf("  %s, batch %lld: max relative error %.2e\n",
                v.at("model").get<std::string>().c_str(),
                static_cast<long long>(v.at("batch").get<int64_t>()),
                v.at("max_relative_error").get<double>());
    EXPECT_EQ(v.at("checker"), "ok") << v.dump();
    EXPECT_LT(v.at("max_relative_error").get<double>(), 1e-4) << v.dump();
    EXPECT_EQ(v.at("inputs").at(0).at(0), "pixels");
    EXPECT_EQ(v.at("inputs").at(0).at(1).at(0), "N") << "the batch axis is dynamic";
    EXPECT_EQ(v.at("outputs").at(0).at(0), "logits");
    EXPECT_EQ(v.at("opset"), 17);
  }
}

TEST(OnnxExport, EveryZooModelRunsInOnnxRuntimeAsInLibTorch) {
  if (!have_onnxruntime()) GTEST_SKIP() << "no .venv with onnx and onnxruntime (scripts/setup.sh)";
  TempDir dir;
  nlohmann::json cases = nlohmann::json::array();
  const auto names = distillery::zoo::zoo_model_names();
  std::map<std::string, std::pair<int64_t, int64_t>> norms;  // file: (BatchNorms, folded)
  for (const auto& name : names) {
    torch::manual_seed(1);
    const auto model = distillery::zoo::build_zoo_model(name, {3, 32, 32}, 10);
    randomise_batch_norms(model);
    const auto summary = add_cases(dir, name, model, {3, 32, 32}, cases);
    int64_t count = 0;
    for (const auto& m : model->modules()) count += m->as<torch::nn::BatchNorm2dImpl>() != nullptr;
    norms[name + ".onnx"] = {count, summary.folded_batch_norms};
  }
  const auto verdicts = check_in_onnxruntime(dir, cases);
  expect_agreement(verdicts, 2 * names.size());
  for (const auto& v : verdicts) {
    const auto& ops = v.at("op_sequence");
    const auto [count, folded] = norms.at(v.at("model").get<std::string>());
    // Each BatchNorm is folded into the convolution before it, or (after an addition, as in the
    // pre-activation blocks of the wide ResNets) a BatchNormalization node; no Dropout is left.
    EXPECT_EQ(folded + std::count(ops.begin(), ops.end(), "BatchNormalization"), count)
        << v.at("model");
    EXPECT_EQ(std::count(ops.begin(), ops.end(), "Dropout"), 0) << v.at("model");
  }
  // Plain ResNets fold every BatchNorm.
  EXPECT_EQ(norms.at("resnet8.onnx").second, norms.at("resnet8.onnx").first);
  EXPECT_EQ(norms.at("resnet8.onnx").first, 9);
}

TEST(OnnxExport, TheMlpConvNetAndAGrayZooModelRunAsInLibTorch) {
  if (!have_onnxruntime()) GTEST_SKIP() << "no .venv with onnx and onnxruntime (scripts/setup.sh)";
  TempDir dir;
  nlohmann::json cases = nlohmann::json::array();
  const InputShape gray{1, 28, 28};
  torch::manual_seed(2);
  const Model mlp = distillery::make_mlp(distillery::MLPOptions().hidden({64, 32}).dropout(0.2),
                                         gray, 10);
  const auto mlp_summary = add_cases(dir, "mlp", mlp, gray, cases);
  EXPECT_EQ(mlp_summary.removed_dropouts, 2);
  // Only the student's weights: its parameters, and the mean and std of the one channel.
  EXPECT_EQ(mlp_summary.initializer_values, distillery::count_parameters(*mlp.ptr()) + 2);
  const Model convnet = distillery::make_convnet(distillery::ConvNetOptions(), gray, 10);
  randomise_batch_norms(convnet);
  add_cases(dir, "convnet", convnet, gray, cases);
  const auto resnet8 = distillery::zoo::build_zoo_model("resnet8", gray, 10);
  randomise_batch_norms(resnet8);
  add_cases(dir, "resnet8_gray", resnet8, gray, cases);
  expect_agreement(check_in_onnxruntime(dir, cases), 6);
}

TEST(OnnxExport, AModuleOfOnesOwnRunsWithItsMetadata) {
  if (!have_onnxruntime()) GTEST_SKIP() << "no .venv with onnx and onnxruntime (scripts/setup.sh)";
  TempDir dir;
  torch::manual_seed(3);
  const Model model = OwnNet();
  randomise_batch_norms(model);
  nlohmann::json cases = nlohmann::json::array();
  const auto summary = add_cases(dir, "own", model, {1, 28, 28}, cases);
  EXPECT_EQ(summary.folded_batch_norms, 1);
  const auto verdicts = check_in_onnxruntime(dir, cases);
  expect_agreement(verdicts, 2);
  const auto& v = verdicts.at(1);
  // The normalisation, the conv (BatchNorm folded), ReLU, the reshape by x.size(0), the linear.
  EXPECT_EQ(v.at("op_sequence"), nlohmann::json({"Sub", "Div", "Conv", "Relu", "Reshape", "Gemm"}));
  EXPECT_EQ(v.at("outputs").at(0).at(1), nlohmann::json({"N", 5}));
  const auto& metadata = v.at("metadata");
  EXPECT_EQ(metadata.at("normalization"), R"({"mean":[0.49],"std":[0.25]})");
  EXPECT_EQ(metadata.at("class_names"), "[]");
  EXPECT_EQ(metadata.at("parameters"), std::to_string(distillery::count_parameters(*model.ptr())));
  EXPECT_EQ(metadata.at("multiply_adds"),
            std::to_string(distillery::count_multiply_adds(model, {1, 28, 28})));
  EXPECT_EQ(metadata.at("distillery_version"), distillery::kVersion);
  std::vector<std::string> keys;
  for (const auto& [key, value] : summary.metadata) keys.push_back(key);
  EXPECT_EQ(keys, (std::vector<std::string>{"class_names", "normalization", "dataset", "parameters",
                                            "multiply_adds", "distillery_version"}));
}

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const c10::Error& e) {
    return e.what_without_backtrace();
  }
  return "<no error>";
}



TEST(OnnxExportGraph, OnlyTheStudentsWeightsAreWritten) {
  // resnet8: its parameters, less each BatchNorm's weight (folded into the conv before it,
  // whose new bias takes the BatchNorm's place), plus the normalisation's mean and std.
  const auto model = distillery::zoo::build_zoo_model("resnet8", {3, 32, 32}, 100);
  int64_t norm_channels = 0;
  for (const auto& m : model->modules()) {
    if (auto* bn = m->as<torch::nn::BatchNorm2dImpl>()) norm_channels += bn->weight.numel();
  }
  distillery::ModelInfo info;
  info.mean = {0.5, 0.5, 0.5};
  info.std = {0.2, 0.2, 0.2};
  distillery::OnnxExportSummary summary;
  distillery::onnx_model_bytes(model, {3, 32, 32}, distillery::OnnxExportOptions().info(info),
                               &summary);
  EXPECT_EQ(distillery::count_parameters(*model.ptr()), 83892);
  EXPECT_EQ(summary.initializer_values, 83892 - norm_channels + 6);
}

TEST(OnnxExportGraph, ErrorsSayWhatAndHow) {
  const auto gelu = error_of([] {
    distillery::onnx_model_bytes(Model(GeluNet()), {1, 2, 2});
  });
  // flatten, then linear as the tracer records it (t, addmm), then gelu.
  EXPECT_EQ(gelu.rfind("export_onnx: the model's forward calls aten::gelu (operator 4 of the "
                       "traced forward), which the ONNX export does not translate; supported: "
                       "_convolution, adaptive_avg_pool2d, add, addmm, alpha_dropout, avg_pool2d, "
                       "batch_norm, cat, channel_shuffle, chunk, clone, contiguous, conv2d, "
                       "detach, dropout, ", 0),
            0u) << gelu;
  EXPECT_EQ(error_of([] { distillery::onnx_model_bytes(Model(), {1, 2, 2}); }),
            "export_onnx: the model is empty (default-constructed)");
  EXPECT_EQ(error_of([] {
              distillery::onnx_model_bytes(Model(OwnNet()), {1, 28, 28},
                                           distillery::OnnxExportOptions().opset(13));
            }),
            "export_onnx: opset 13 is outside [17, " + std::to_string(distillery::max_onnx_opset()) +
                "], the operator sets this build writes");
  EXPECT_EQ(error_of([] {
              distillery::onnx_model_bytes(Model(OwnNet()), {1, 28, 28}, {},
                                           nullptr);
              distillery::onnx_model_bytes(
                  Model(OwnNet()), {1, 28, 28},
                  distillery::OnnxExportOptions().metadata({{"dataset", "x"}}));
            }),
            "export_onnx: metadata key \"dataset\" is given twice or is one export_onnx writes "
            "itself");
  EXPECT_EQ(error_of([] { distillery::onnx_model_bytes(Model(OwnNet()), {1, 20, 20}); })
                .rfind("export_onnx: could not trace the model's forward on a [2, 1, 20, 20] "
                       "batch: ", 0),
            0u);
}

// export_onnx writes only once the whole graph is made and checked: a model it refuses leaves
// the file at the path as it was.
TEST(OnnxExportGraph, AFailedExportLeavesTheOldFile) {
  distillery::test::TempDir dir;
  const auto path = dir.file("model.onnx");
  distillery::test::write_bytes(path, {1, 2, 3});
  EXPECT_NE(error_of([&] { distillery::export_onnx(Model(GeluNet()), {1, 2, 2}, path); }),
            "<no error>");
  EXPECT_EQ(distillery::test::slurp(path), std::string("\x01\x02\x03", 3));
}

}  // namespace

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "distillery/models.h"
#include "distillery/state_dict.h"
#include "test_util.h"

namespace {

using distillery::test::runtime_error_of;

const std::string kRecipe =
    "save the weights in Python with torch.save(model.state_dict(), path)";

std::string fixture(const std::string& name) {
  return std::string(DISTILLERY_FIXTURE_DIR) + "/" + name;
}

nlohmann::json fixtures_json() {
  std::ifstream in(fixture("fixtures.json"));
  return nlohmann::json::parse(in);
}

torch::Tensor tensor_of(const nlohmann::json& rows) {
  std::vector<float> flat;
  for (const auto& row : rows) for (float x : row) flat.push_back(x);
  return torch::tensor(flat).view({static_cast<int64_t>(rows.size()), -1});
}

// The MLP of make_fixtures.py's "logits": x[n, 0, i, j] = sin(0.01 * (n * 784 + i * 28 + j)).
torch::Tensor mlp_input() {
  return torch::sin(0.01 * torch::arange(4 * 784, torch::kFloat64)).to(torch::kFloat32).view({4, 1, 28, 28});
}

torch::Tensor mlp_logits() { return tensor_of(fixtures_json().at("logits")); }

// The tiny models of make_fixtures.py, on their 4 x 1 x 4 x 4 input.
torch::Tensor tiny_input() {
  return torch::tensor(fixtures_json().at("tiny").at("input").get<std::vector<float>>())
      .view({4, 1, 4, 4});
}

torch::Tensor tiny_logits(const std::string& name = "logits") {
  return tensor_of(fixtures_json().at("tiny").at(name));
}

torch::nn::Sequential tiny_mlp() {
  return distillery::make_mlp(distillery::MLPOptions().hidden({4}), {1, 4, 4}, 3);
}

torch::nn::Sequential tiny_convnet() {
  return distillery::make_convnet(
      distillery::ConvNetOptions().channels({2}).kernel_size(3).hidden({}).dropout(0),
      {1, 4, 4}, 3);
}

torch::Tensor logits_of(torch::nn::Sequential& model, const torch::Tensor& x) {
  model->eval();
  torch::NoGradGuard guard;
  return model->forward(x);
}

// Loads `file` (with `key`) into the tiny MLP and returns its logits on the tiny input.
torch::Tensor tiny_logits_after_loading(const std::string& file, const std::string& key = "") {
  auto model = tiny_mlp();
  distillery::load_state_dict(*model, fixture(file), key);
  return logits_of(model, tiny_input());
}

// The float32 tolerance of the other golden tests: the files hold PyTorch's float32 weights.
bool close(const torch::Tensor& a, const torch::Tensor& b) {
  return torch::allclose(a, b, 1e-5, 1e-6);
}

TEST(StateDict, TorchSaveOfStateDictLoads) {
  // torch.save(model.state_dict()) pickles an OrderedDict, which LibTorch's own unpickler
  // turns into None ("Expected GenericDict but got None").
  EXPECT_TRUE(close(tiny_logits_after_loading("tiny_state_dict.pt"), tiny_logits()));
}

TEST(StateDict, PlainDictAndParametersLoad) {
  EXPECT_TRUE(close(tiny_logits_after_loading("tiny_plain_dict.pt"), tiny_logits()));
  EXPECT_TRUE(close(tiny_logits_after_loading("tiny_parameters.pt"), tiny_logits()));  // keep_vars
}

TEST(StateDict, LegacyFormatLoads) {
  EXPECT_TRUE(close(tiny_logits_after_loading("tiny_legacy.pt"), tiny_logits()));
}

TEST(StateDict, CheckpointWrappersAreFoundWithoutAKey) {
  // {"state_dict": <"module."-prefixed>, "epoch": 3, "optimizer": ...} and
  // {"model": ..., "epoch": 3, "args": argparse.Namespace(...)}: the other entries are ignored.
  EXPECT_TRUE(close(tiny_logits_after_loading("tiny_checkpoint_state_dict.pt"), tiny_logits()));
  EXPECT_TRUE(close(tiny_logits_after_loading("tiny_checkpoint_model.pt"), tiny_logits()));
}

TEST(StateDict, ExplicitKeyPicksThatEntry) {
  EXPECT_TRUE(close(tiny_logits_after_loading("tiny_checkpoint_state_dict.pt", "state_dict"),
                    tiny_logits()));
  EXPECT_TRUE(close(tiny_logits_after_loading("tiny_checkpoint_model.pt", "model"), tiny_logits()));
  const auto path = fixture("tiny_checkpoint_state_dict.pt");
  EXPECT_EQ(runtime_error_of([&] { tiny_logits_after_loading("tiny_checkpoint_state_dict.pt", "weights"); }),
            path + ": no entry \"weights\" at the top level of the file; its entries are "
                   "[state_dict, epoch, optimizer]");
  EXPECT_EQ(runtime_error_of([&] { tiny_logits_after_loading("tiny_checkpoint_state_dict.pt", "epoch"); }),
            path + ": the entry \"epoch\" holds an int, not a state dict (a dict of tensors); " +
                kRecipe);
  EXPECT_EQ(runtime_error_of([&] { tiny_logits_after_loading("tiny_checkpoint_state_dict.pt", "optimizer"); }),
            path + ": the state dict entry \"state\" holds a dict, not a tensor; a state dict "
                   "maps names to tensors: " + kRecipe);
  const auto plain = fixture("tiny_state_dict.pt");
  EXPECT_EQ(runtime_error_of([&] { tiny_logits_after_loading("tiny_state_dict.pt", "model"); }),
            plain + ": no entry \"model\" at the top level of the file; its entries are "
                    "[1.weight, 1.bias, 3.weight, 3.bias]");
}

TEST(StateDict, HalfBfloat16AndFloat64ConvertToTheModelDtype) {
  // PyTorch's reference logits come from the float32 model holding the weights rounded to
  // half / bfloat16, which is exactly what loading the file gives: the float32 tolerance holds.
  EXPECT_EQ(distillery::read_state_dict(fixture("tiny_half.pt")).at("1.weight").scalar_type(),
            torch::kHalf);
  EXPECT_EQ(distillery::read_state_dict(fixture("tiny_bfloat16.pt")).at("3.bias").scalar_type(),
            torch::kBFloat16);
  EXPECT_TRUE(close(tiny_logits_after_loading("tiny_half.pt"), tiny_logits("logits_half")));
  EXPECT_TRUE(close(tiny_logits_after_loading("tiny_bfloat16.pt"), tiny_logits("logits_bfloat16")));
  // float64 weights that came from float32 round back to the very same float32 values.
  EXPECT_TRUE(close(tiny_logits_after_loading("tiny_float64.pt"), tiny_logits()));
  auto model = tiny_mlp();
  distillery::load_state_dict(*model, fixture("tiny_float64.pt"));
  EXPECT_EQ(model->parameters()[0].scalar_type(), torch::kFloat32);
}

TEST(StateDict, BatchNormBuffersLoadWithTheirIntegerCount) {
  auto model = tiny_convnet();
  distillery::load_state_dict(*model, fixture("convnet_batch_norm.pt"));
  const auto buffers = model->named_buffers();
  EXPECT_EQ(buffers["1.num_batches_tracked"].scalar_type(), torch::kLong);
  EXPECT_EQ(buffers["1.num_batches_tracked"].item<int64_t>(), 3);
  EXPECT_TRUE(torch::equal(buffers["1.running_var"],
                           distillery::read_state_dict(fixture("convnet_batch_norm.pt"))
                               .at("1.running_var")));
  EXPECT_TRUE(close(logits_of(model, tiny_input()), tiny_logits("convnet_logits")));
}

TEST(StateDict, FloatIntoAnIntegerBufferIsRefused) {
  auto model = tiny_convnet();
  auto count = model->named_buffers()["1.num_batches_tracked"];
  count.set_data(count.to(torch::kFloat32));
  const auto before = model->parameters()[0].clone();
  EXPECT_EQ(runtime_error_of([&] { distillery::load_state_dict(*model, fixture("convnet_batch_norm.pt")); }),
            fixture("convnet_batch_norm.pt") +
                ": 1.num_batches_tracked is Long in the file but Float in the model");
  EXPECT_TRUE(torch::equal(model->parameters()[0], before));
}

TEST(StateDict, WholePickledModelIsRefusedWithoutRunningIt) {
  auto model = tiny_mlp();
  const auto before = model->parameters()[0].clone();
  const auto path = fixture("tiny_whole_model.pt");
  EXPECT_EQ(runtime_error_of([&] { distillery::load_state_dict(*model, path); }),
            path + ": the file holds a pickled torch.nn.modules.container.Sequential object, not "
                   "a state dict (a whole model saved with torch.save(model)?); distillery never "
                   "runs pickled code: " + kRecipe);
  EXPECT_TRUE(torch::equal(model->parameters()[0], before));
}

TEST(StateDict, OtherFilesAreRefusedWithWhatToDo) {
  auto model = tiny_mlp();
  const auto script = fixture("teacher_mlp.ts");
  EXPECT_EQ(runtime_error_of([&] { distillery::load_state_dict(*model, script); }),
            script + ": this is a TorchScript archive (torch.jit.save, or a distillery model "
                     "file), not a state dict; load it as a TorchScript teacher or a distillery "
                     "checkpoint, or " + kRecipe);
  distillery::test::TempDir dir;
  const auto saved = dir.file("teacher.pt");
  distillery::ModelRecord record;
  record.spec = R"({"architecture": "mlp", "hidden": [4]})";
  record.input = {1, 4, 4};
  record.num_classes = 3;
  distillery::save_model(saved, model, record);
  EXPECT_EQ(runtime_error_of([&] { distillery::load_state_dict(*model, saved); }),
            saved + ": this is a TorchScript archive (torch.jit.save, or a distillery model "
                    "file), not a state dict; load it as a TorchScript teacher or a distillery "
                    "checkpoint, or " + kRecipe);
  const auto json = fixture("fixtures.json");
  EXPECT_EQ(runtime_error_of([&] { distillery::load_state_dict(*model, json); }),
            json + ": damaged, truncated or not a torch.save file (it is neither a zip archive "
                   "nor the legacy format); " + kRecipe);
  EXPECT_EQ(runtime_error_of([&] { distillery::load_state_dict(*model, "/nonexistent/w.pt"); }),
            "cannot open /nonexistent/w.pt: No such file or directory");
}

// Every truncation and every single-byte change of a file must end in a std::runtime_error
// naming the path (or, for a change in tensor bytes, in a load): never a crash or another error.
void expect_damage_is_reported(const std::string& name) {
  const std::string bytes = distillery::test::slurp(fixture(name));
  distillery::test::TempDir dir;
  const auto path = dir.file(name);
  const auto check = [&](const std::string& contents, const std::string& what, bool must_fail) {
    std::ofstream(path, std::ios::binary) << contents;
    try {
      auto model = tiny_mlp();
      distillery::load_state_dict(*model, path);
      EXPECT_FALSE(must_fail) << what << " loaded";
    } catch (const std::runtime_error& e) {
      EXPECT_EQ(std::string(e.what()).rfind(path + ": ", 0), 0u) << what << ": " << e.what();
    }
  };
  for (size_t size = 0; size < bytes.size(); ++size) {
    check(bytes.substr(0, size), name + " cut to " + std::to_string(size) + " bytes", true);
  }
  for (size_t i = 0; i < bytes.size(); ++i) {
    std::string changed = bytes;
    changed[i] = static_cast<char>(changed[i] ^ 0x5a);
    check(changed, name + " with byte " + std::to_string(i) + " changed", false);
  }
}

TEST(StateDict, DamagedZipFilesNameThePath) { expect_damage_is_reported("tiny_state_dict.pt"); }

TEST(StateDict, DamagedLegacyFilesNameThePath) { expect_damage_is_reported("tiny_legacy.pt"); }

TEST(StateDict, ModulePrefixedCheckpointLoadsIntoTheBareModel) {
  auto model = distillery::make_mlp(distillery::MLPOptions().hidden({8}), {1, 28, 28}, 10);
  distillery::load_state_dict(*model, fixture("state_dict_module_prefix.pt"));
  EXPECT_TRUE(close(logits_of(model, mlp_input()), mlp_logits()));
}

TEST(StateDict, MissingAndUnexpectedKeysAreListed) {
  auto model = distillery::make_mlp(distillery::MLPOptions().hidden({8}), {1, 28, 28}, 10);
  const auto before = model->parameters()[0].clone();
  try {
    distillery::load_state_dict(*model, fixture("state_dict_bad_keys.pt"));
    FAIL();
  } catch (const std::runtime_error& e) {
    EXPECT_EQ(std::string(e.what()), fixture("state_dict_bad_keys.pt") +
                                         ": state dict does not match the model: missing keys "
                                         "[3.bias], unexpected keys [5.weight]");
  }
  EXPECT_TRUE(torch::equal(model->parameters()[0], before));  // unchanged on error
}

TEST(StateDict, WrongShapeNamesTheKey) {
  auto model = distillery::make_mlp(distillery::MLPOptions().hidden({9}), {1, 28, 28}, 10);
  try {
    distillery::load_state_dict(*model, fixture("state_dict_module_prefix.pt"));
    FAIL();
  } catch (const std::runtime_error& e) {
    EXPECT_EQ(std::string(e.what()), fixture("state_dict_module_prefix.pt") +
                                         ": 1.bias has shape [8] in the file but [9] in the model");
  }
}

// A nested module of one's own, with buffers (BatchNorm's running statistics and count).
struct BlockImpl : torch::nn::Module {
  explicit BlockImpl(int64_t channels)
      : conv(register_module("conv", torch::nn::Conv2d(torch::nn::Conv2dOptions(1, channels, 3)))),
        norm(register_module("norm", torch::nn::BatchNorm2d(channels))) {}
  torch::Tensor forward(const torch::Tensor& x) { return torch::relu(norm(conv(x))); }
  torch::nn::Conv2d conv;
  torch::nn::BatchNorm2d norm;
};
TORCH_MODULE(Block);

struct NestedNetImpl : torch::nn::Module {
  explicit NestedNetImpl(int64_t channels = 2)
      : block(register_module("block", Block(channels))),
        head(register_module("head", torch::nn::Linear(channels * 2 * 2, 3))) {
    scale = register_parameter("scale", torch::ones({1}));
  }
  torch::Tensor forward(const torch::Tensor& x) { return head(block(x).flatten(1)) * scale; }
  Block block;
  torch::nn::Linear head;
  torch::Tensor scale;
};
TORCH_MODULE(NestedNet);

TEST(SaveStateDict, NestedModuleRoundTripsByName) {
  distillery::test::TempDir dir;
  torch::manual_seed(1);
  NestedNet net;
  net->train();
  net->forward(torch::randn({5, 1, 4, 4}));  // moves the running statistics and the count
  distillery::save_state_dict(dir.file("net.pt"), *net);
  const auto saved = distillery::read_state_dict(dir.file("net.pt"));
  std::vector<std::string> names;
  for (const auto& item : saved) names.push_back(item.first);
  EXPECT_EQ(names, (std::vector<std::string>{
                       "block.conv.bias", "block.conv.weight", "block.norm.bias",
                       "block.norm.num_batches_tracked", "block.norm.running_mean",
                       "block.norm.running_var", "block.norm.weight", "head.bias", "head.weight",
                       "scale"}));  // std::map order
  EXPECT_EQ(saved.at("block.norm.num_batches_tracked").scalar_type(), torch::kInt64);
  EXPECT_EQ(saved.at("block.norm.num_batches_tracked").item<int64_t>(), 1);
  torch::manual_seed(2);
  NestedNet other;  // other initial values
  distillery::load_state_dict(*other, dir.file("net.pt"));
  const auto theirs = other->named_parameters(), ours = net->named_parameters();
  for (const auto& item : ours) {
    EXPECT_TRUE(torch::equal(theirs[item.key()], item.value())) << item.key();
  }
  for (const auto& item : net->named_buffers()) {
    EXPECT_TRUE(torch::equal(other->named_buffers()[item.key()], item.value())) << item.key();
  }
  net->eval();
  other->eval();
  const auto x = torch::randn({2, 1, 4, 4});
  EXPECT_TRUE(torch::equal(other->forward(x), net->forward(x)));
}

TEST(SaveStateDict, LoadingIntoAnotherShapeIsRefusedByName) {
  distillery::test::TempDir dir;
  NestedNet net(2);
  distillery::save_state_dict(dir.file("net.pt"), *net);
  NestedNet wider(3);
  EXPECT_EQ(runtime_error_of([&] { distillery::load_state_dict(*wider, dir.file("net.pt")); }),
            dir.file("net.pt") +
                ": block.conv.bias has shape [2] in the file but [3] in the model");
  auto mlp = tiny_mlp();
  EXPECT_EQ(runtime_error_of([&] { distillery::load_state_dict(*mlp, dir.file("net.pt")); }),
            dir.file("net.pt") + ": state dict does not match the model: missing keys [1.bias, "
                                 "1.weight, 3.bias, 3.weight], unexpected keys [block.conv.bias, "
                                 "block.conv.weight, block.norm.bias, "
                                 "block.norm.num_batches_tracked, block.norm.running_mean, "
                                 "block.norm.running_var, block.norm.weight, head.bias, "
                                 "head.weight, scale]");
}

TEST(SaveStateDict, AFailedWriteNamesThePathAndLeavesNoFile) {
  distillery::test::TempDir dir;
  distillery::test::write_bytes(dir.file("taken"), {1});
  NestedNet net;
  // A regular file where a directory is needed.
  const auto message =
      runtime_error_of([&] { distillery::save_state_dict(dir.file("taken/net.pt"), *net); });
  EXPECT_EQ(message, "cannot create directory " + dir.file("taken") + " for " +
                         dir.file("taken/net.pt") + ": Not a directory");
  EXPECT_FALSE(std::filesystem::exists(dir.file("taken/net.pt")));
}

}  // namespace

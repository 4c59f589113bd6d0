// Specialist models (Hinton et al. 2015, §5): dustbin labels, reduced soft targets, the head
// initialised from the generalist, the bias correction, half-subset batches and training.

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>

#include "distillery/data/sampler.h"
#include "distillery/models.h"
#include "distillery/specialists/specialist.h"
#include "distillery/specialists/training.h"
#include "test_util.h"

namespace ds = distillery::specialists;
using distillery::test::runtime_error_of;

namespace {

std::string c10_error_of(const std::function<void()>& f) {
  return distillery::test::error_of_type<c10::Error>(f);
}

const auto kArchitecture = distillery::MLPOptions().hidden({12});
const distillery::InputShape kInput{1, 4, 4};

// A generalist of 6 classes, and the function that builds fresh networks of its architecture.
torch::nn::Sequential mlp(int64_t classes) {
  return distillery::make_mlp(kArchitecture, kInput, classes);
}
distillery::Model fresh_network() { return mlp(6); }

// The record a specialist's file keeps of its network.
distillery::ModelRecord network_record() {
  distillery::ModelRecord record;
  record.spec = R"({"architecture": "mlp", "hidden": [12]})";
  record.input = kInput;
  record.num_classes = 6;
  return record;
}

TEST(DustbinLabels, ClassesOutsideTheSubsetMapToTheDustbin) {
  const auto map = ds::dustbin_label_map({2, 5, 7}, 10);
  EXPECT_TRUE(torch::equal(map, torch::tensor({3, 3, 0, 3, 3, 1, 3, 2, 3, 3}, torch::kInt64)));
  const auto labels = torch::tensor({7, 0, 5, 2, 9}, torch::kInt64);
  EXPECT_TRUE(torch::equal(ds::to_specialist_labels(labels, {2, 5, 7}, 10),
                           torch::tensor({2, 3, 1, 0, 3}, torch::kInt64)));
  EXPECT_EQ(c10_error_of([] { ds::dustbin_label_map({1, 1}, 10); }),
            "class 1 appears twice in the subset");
  EXPECT_EQ(c10_error_of([] { ds::dustbin_label_map({0, 1, 2}, 3); }),
            "a specialist subset needs 1 to 2 of the 3 classes, got 3");
  EXPECT_EQ(c10_error_of([] {
              ds::to_specialist_labels(torch::tensor({10}, torch::kInt64), {1}, 10);
            }),
            "labels must be in [0, 10)");
}

TEST(DustbinBiasCorrection, IsLogOfOverSamplingOverUnderSampling) {
  // f = 0.3: a = 0.5 / 0.3 = 5/3, b = 0.5 / 0.7 = 5/7, log(a / b) = log(7/3).
  EXPECT_NEAR(ds::dustbin_bias_correction(0.3), 0.8472978603872037, 1e-15);
  // Balanced data needs no correction; a rare subset raises the dustbin.
  EXPECT_NEAR(ds::dustbin_bias_correction(0.5), 0.0, 1e-15);
  EXPECT_NEAR(ds::dustbin_bias_correction(0.1), std::log(9.0), 1e-14);
  EXPECT_THROW(ds::dustbin_bias_correction(0.0), std::invalid_argument);
  EXPECT_THROW(ds::dustbin_bias_correction(1.0), std::invalid_argument);
  EXPECT_THROW(ds::dustbin_bias_correction(NAN), std::invalid_argument);
}

TEST(ReducedSoftTargets, TheSampledPriorIsUndoneExactlyByTheDustbinCorrection) {
  torch::manual_seed(5);
  const auto v = torch::randn({4, 8}, torch::kFloat64) * 2;
  const std::vector<int64_t> subset = {1, 6};
  const double f = 0.25;  // a = 2, b = 2/3
  const auto natural = ds::reduce_logits(v, subset, 1.0);
  const auto sampled = ds::to_sampled_prior(natural, f);
  // In the batches, S is twice as likely and the dustbin 2/3 as likely, renormalised.
  auto expected = torch::softmax(natural, 1);
  expected.narrow(1, 0, 2).mul_(2.0);
  expected.select(1, 2).mul_(2.0 / 3);
  expected = expected / expected.sum(1, true);
  EXPECT_TRUE(torch::allclose(torch::softmax(sampled, 1), expected, 1e-12, 1e-15));
  auto corrected = sampled.clone();
  corrected.select(1, 2).add_(ds::dustbin_bias_correction(f));
  EXPECT_TRUE(torch::allclose(torch::softmax(corrected, 1), torch::softmax(natural, 1), 1e-12, 1e-15));
  EXPECT_THROW(ds::to_sampled_prior(natural, 1.0), std::invalid_argument);
}

TEST(ReducedSoftTargets, SumTheOtherClassesIntoTheDustbin) {
  torch::manual_seed(0);
  const auto v = torch::randn({5, 6}, torch::kFloat64) * 3;
  const std::vector<int64_t> subset = {4, 1};
  const auto p = torch::softmax(v, 1);
  const auto reduced = ds::reduce_log_probabilities(torch::log_softmax(v, 1), subset).exp();
  const auto expected = torch::stack(
      {p.select(1, 4), p.select(1, 1), p.select(1, 0) + p.select(1, 2) + p.select(1, 3) + p.select(1, 5)},
      1);
  EXPECT_TRUE(torch::allclose(reduced, expected, 1e-12, 1e-15));
  // reduce_logits at T gives logits whose softmax at T is the reduced soft-target distribution.
  const double t = 4.0;
  const auto z = ds::reduce_logits(v, subset, t);
  const auto pt = torch::softmax(v / t, 1);
  const auto expected_t = torch::stack(
      {pt.select(1, 4), pt.select(1, 1), 1 - pt.select(1, 4) - pt.select(1, 1)}, 1);
  EXPECT_TRUE(torch::allclose(torch::softmax(z / t, 1), expected_t, 1e-12, 1e-15));
  // Exact even when the other classes' probabilities underflow individually.
  const auto extreme = torch::tensor({{0.0, -800.0, -800.0}}, torch::kFloat64);
  const auto r = ds::reduce_log_probabilities(torch::log_softmax(extreme, 1), {0});
  EXPECT_NEAR(r[0][1].item<double>(), -800.0 + std::log(2.0), 1e-9);
}

TEST(MakeSpecialist, StartsAsExactlyTheGeneralistReducedToTheSubsetAndDustbin) {
  torch::manual_seed(1);
  auto generalist = mlp(6);
  const std::vector<int64_t> subset = {3, 0};
  auto s = ds::make_specialist(generalist, fresh_network, 6, subset);
  EXPECT_EQ(s.classes, subset);
  EXPECT_EQ(s.num_classes, 6);
  torch::NoGradGuard no_grad;
  generalist->eval();
  s.model->eval();
  const auto x = torch::randn({7, 1, 4, 4});
  const auto g = generalist->forward(x);
  const auto z = s.model->forward(x);
  ASSERT_EQ(z.sizes(), (std::vector<int64_t>{7, 3}));
  EXPECT_TRUE(torch::allclose(z.select(1, 0), g.select(1, 3)));
  EXPECT_TRUE(torch::allclose(z.select(1, 1), g.select(1, 0)));
  EXPECT_TRUE(torch::allclose(z.select(1, 2),
                              g.index_select(1, torch::tensor({1, 2, 4, 5})).logsumexp(1)));
  EXPECT_TRUE(torch::allclose(torch::log_softmax(z, 1),
                              ds::reduce_log_probabilities(torch::log_softmax(g, 1), subset), 1e-5,
                              1e-6));
  // The copy is independent of the generalist.
  s.network->parameters().front().add_(1.0);
  EXPECT_TRUE(torch::equal(generalist->forward(x), g));
  // The dustbin bias moves the dustbin logit only.
  const auto before = s.model->forward(x);
  ds::shift_dustbin_bias(s, 0.75);
  const auto after = s.model->forward(x);
  EXPECT_TRUE(torch::allclose(after.select(1, 2), before.select(1, 2) + 0.75));
  EXPECT_TRUE(torch::equal(after.narrow(1, 0, 2), before.narrow(1, 0, 2)));
  EXPECT_DOUBLE_EQ(s.dustbin_bias, 0.75);
}

TEST(MakeSpecialist, NeedsAGeneralistThatMatchesTheNetworkAndClassCount) {
  auto generalist = mlp(6);
  const auto ten_classes = [] { return distillery::Model(mlp(10)); };
  EXPECT_EQ(c10_error_of([&] { ds::make_specialist(generalist, ten_classes, 10, {1}); }),
            "the generalist does not match the network built for the specialist at 3.weight (a "
            "generalist of that architecture with 10 classes is expected)");
  EXPECT_EQ(c10_error_of([&] { ds::make_specialist(generalist, fresh_network, 6, {1, 9}); }),
            "class 9 of the subset is outside [0, 6)");
  // A generalist with a layer more than the network.
  auto deeper = distillery::make_mlp(distillery::MLPOptions().hidden({12, 12}), kInput, 6);
  EXPECT_EQ(c10_error_of([&] { ds::make_specialist(deeper, fresh_network, 6, {1}); }),
            "the generalist does not match the network built for the specialist at 3.weight (a "
            "generalist of that architecture with 6 classes is expected)");
  EXPECT_EQ(c10_error_of([&] { ds::make_specialist(generalist, {}, 6, {1}); }),
            "make_specialist needs a function that builds the generalist's architecture");
}

// Any module goes through the door: a network that is not a Sequential is one module of the
// specialist, its weights copied from the generalist by name.
struct TwoLayerImpl : torch::nn::Module {
  TwoLayerImpl()
      : hidden(register_module("hidden", torch::nn::Linear(16, 5))),
        head(register_module("head", torch::nn::Linear(5, 4))) {}
  torch::Tensor forward(const torch::Tensor& x) {
    return head(torch::relu(hidden(x.flatten(1))));
  }
  torch::nn::Linear hidden, head;
};
TORCH_MODULE(TwoLayer);

TEST(MakeSpecialist, TakesANetworkOfOnesOwn) {
  torch::manual_seed(7);
  TwoLayer generalist;
  auto s = ds::make_specialist(generalist, [] { return distillery::Model(TwoLayer()); }, 4, {2});
  const auto x = torch::randn({5, 1, 4, 4});
  torch::NoGradGuard no_grad;
  const auto g = generalist->forward(x);
  const auto z = s.model->forward(x);
  ASSERT_EQ(z.sizes(), (std::vector<int64_t>{5, 2}));
  EXPECT_TRUE(torch::allclose(z.select(1, 0), g.select(1, 2)));
  EXPECT_TRUE(torch::allclose(z.select(1, 1),
                              g.index_select(1, torch::tensor({0, 1, 3})).logsumexp(1)));
  // Its own copy of the weights, under the network's names.
  EXPECT_TRUE(torch::equal(s.network->named_parameters()["head.weight"], generalist->head->weight));
  EXPECT_NE(s.network->named_parameters()["head.weight"].data_ptr(),
            generalist->head->weight.data_ptr());
}

TEST(Specialist, SavesAndLoadsWithItsClassesAndDustbinBias) {
  distillery::test::TempDir dir;
  torch::manual_seed(2);
  auto generalist = mlp(6);
  auto s = ds::make_specialist(generalist, fresh_network, 6, {1, 4});
  s.subset_share = 0.25;
  ds::shift_dustbin_bias(s, ds::dustbin_bias_correction(0.25));
  ds::save_specialist(dir.file("s.pt"), s, network_record());
  std::vector<std::string> specs;  // what the network builder was given
  auto loaded = ds::load_specialist(dir.file("s.pt"), [&](const distillery::ModelRecord& r) {
    specs.push_back(r.spec);
    EXPECT_EQ(r.num_classes, 6);
    return fresh_network();
  });
  EXPECT_EQ(specs, (std::vector<std::string>{R"({"architecture":"mlp","hidden":[12]})"}));
  EXPECT_EQ(loaded.classes, (std::vector<int64_t>{1, 4}));
  EXPECT_EQ(loaded.num_classes, 6);
  EXPECT_DOUBLE_EQ(loaded.subset_share, 0.25);
  EXPECT_DOUBLE_EQ(loaded.dustbin_bias, std::log(3.0));
  torch::NoGradGuard no_grad;
  s.model->eval();
  const auto x = torch::randn({3, 1, 4, 4});
  EXPECT_TRUE(torch::equal(loaded.model->forward(x), s.model->forward(x)));
  // A plain model file is not a specialist.
  distillery::save_model(dir.file("plain.pt"), generalist, network_record());
  EXPECT_EQ(runtime_error_of([&] {
              ds::load_specialist(dir.file("plain.pt"), [](const distillery::ModelRecord&) {
                return fresh_network();
              });
            }),
            dir.file("plain.pt") + ": not a specialist (a model file without a specialist's "
                                   "classes); write specialists with save_specialist");
}

TEST(HalfSubsetSampler, EveryBatchIsHalfSubsetAndEachSubsetExampleComesOncePerEpoch) {
  // 100 examples, labels 0..9 repeating: the subset {2, 7} has 20 of them (f = 0.2).
  const auto labels = torch::arange(100, torch::kInt64).remainder(10);
  distillery::data::HalfSubsetSampler a(labels, {2, 7}, 9, 5), b(labels, {2, 7}, 9, 5);
  EXPECT_DOUBLE_EQ(a.subset_share(), 0.2);
  EXPECT_EQ(a.batches_per_epoch(), 5);  // 20 subset examples, 4 per batch
  std::vector<torch::Tensor> inside;
  int batches = 0;
  while (auto idx = a.next()) {
    ++batches;
    EXPECT_TRUE(torch::equal(*idx, *b.next()));  // seeded
    const auto l = labels.index_select(0, *idx);
    const auto in = torch::isin(l, torch::tensor({2, 7}));
    EXPECT_EQ(idx->size(0), 8);
    EXPECT_EQ(in.sum().item<int64_t>(), 4);
    inside.push_back(idx->index({in}));
  }
  EXPECT_EQ(batches, 5);
  const auto all = std::get<0>(torch::cat(inside).sort());
  EXPECT_TRUE(torch::equal(all, torch::nonzero(torch::isin(labels, torch::tensor({2, 7}))).flatten()));
  EXPECT_EQ(c10_error_of([&] { distillery::data::HalfSubsetSampler(labels, {11}, 8, 0); }),
            "no training example has a label in the class subset [11]");
}

TEST(TrainSpecialist, AppliesTheBiasCorrectionForTheSubsetShareAndRefusesJitter) {
  torch::manual_seed(4);
  const int64_t n = 240;
  const auto labels = torch::arange(n, torch::kInt64).remainder(6);
  const auto means = torch::randn({6, 16}) * 2;
  const auto images = (means.index_select(0, labels) + torch::randn({n, 16})).view({n, 1, 4, 4});
  distillery::data::Dataset train{images, labels, 6};
  auto generalist = mlp(6);
  distillery::train_supervised(
      generalist, train,
      distillery::TrainOptions().trainer(
          distillery::TrainerOptions().epochs(3).batch_size(32).threads(1).reseed(true)));
  torch::NoGradGuard no_grad;
  generalist->eval();
  const auto logits = generalist->forward(images);
  const auto options = ds::SpecialistTrainingOptions()
                           .trainer(distillery::TrainerOptions().epochs(2).batch_size(16).threads(1))
                           .loss(distillery::KDLossOptions().temperature(2).alpha(0.5));
  const ds::SpecialistData data{train, logits, train};
  auto run = ds::train_specialist(generalist, fresh_network, {1, 4}, data, options);
  EXPECT_NEAR(run.specialist.subset_share, 1.0 / 3.0, 1e-12);
  EXPECT_NEAR(run.specialist.dustbin_correction, std::log(2.0), 1e-12);  // log((1 - f) / f)
  // Lowered by the correction for training, raised by it after: back to 0 in all.
  EXPECT_NEAR(run.specialist.dustbin_bias, 0.0, 1e-12);
  EXPECT_EQ(run.history.history.size(), 2u);
  // Where training started is part of the result, not a log line: the generalist reduced to
  // S + dustbin, its dustbin lowered by the correction log 2 (the batches' prior).
  const auto start_logits =
      torch::cat({logits.index_select(1, torch::tensor({1, 4})),
                  logits.index_select(1, torch::tensor({0, 2, 3, 5})).logsumexp(1, true) -
                      std::log(2.0)},
                 1);
  EXPECT_EQ(run.start.examples, n);
  EXPECT_EQ(run.start.errors,
            start_logits.argmax(1).ne(ds::to_specialist_labels(labels, {1, 4}, 6)).sum().item<int64_t>());
  EXPECT_TRUE(std::isfinite(run.history.history.back().train_loss));
  EXPECT_EQ(c10_error_of([&] {
              ds::train_specialist(
                  generalist, fresh_network, {1, 4}, data,
                  ds::SpecialistTrainingOptions(options).trainer(
                      distillery::TrainerOptions(options.trainer()).jitter_pixels(1)));
            }),
            "specialist: no augmentation for a specialist, got jitter_pixels = 1 (its soft "
            "targets are the generalist's logits on the training images as they are)");
  EXPECT_EQ(c10_error_of([&] {
              ds::train_specialist(generalist, fresh_network, {1, 4},
                                   ds::SpecialistData{train, logits.narrow(0, 0, 10), train},
                                   options);
            }),
            "the generalist's logits must be [240, 6], got [10, 6]");
}

}  // namespace

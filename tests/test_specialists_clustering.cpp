// Class subsets (Hinton et al. 2015, §5): covariance of the generalist's predictions, K-means
// on its columns, and subsets read and written as JSON.

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <nlohmann/json.hpp>
#include <opencv2/core.hpp>

#include "distillery/specialists/clustering.h"
#include "distillery/trainer.h"
#include "test_util.h"

namespace ds = distillery::specialists;

namespace {

std::string invalid_argument_of(const std::function<void()>& f) {
  return distillery::test::error_of_type<std::invalid_argument>(f);
}

TEST(PredictionCovariance, MatchesTheSampleCovarianceOfEachPairOfClasses) {
  // Two examples, two classes: p = (1, 0) and (0, 1). Means 0.5; deviations +-0.5; divisor 1.
  const auto p = torch::tensor({{1.0, 0.0}, {0.0, 1.0}});
  const auto s = ds::prediction_covariance(p);
  EXPECT_TRUE(torch::allclose(s, torch::tensor({{0.5, -0.5}, {-0.5, 0.5}}, torch::kFloat64)));
  // And PyTorch's own torch.cov (variables in rows) on a random case.
  const auto q = torch::softmax(torch::randn({50, 6}, torch::TensorOptions().dtype(torch::kFloat64)), 1);
  EXPECT_TRUE(torch::allclose(ds::prediction_covariance(q), torch::cov(q.t()), 1e-12, 1e-14));
  EXPECT_EQ(ds::prediction_covariance(q).scalar_type(), torch::kFloat64);
}

TEST(PredictionCovariance, RejectsTooFewExamplesAndWrongShapes) {
  EXPECT_THROW(ds::prediction_covariance(torch::ones({1, 3})), c10::Error);
  EXPECT_THROW(ds::prediction_covariance(torch::ones({4})), c10::Error);
  EXPECT_THROW(ds::prediction_covariance(torch::ones({4, 3}, torch::kInt64)), c10::Error);
}

TEST(KMeans, SeparatesWellSeparatedPointsAndIsDeterministicForASeed) {
  torch::manual_seed(3);
  const auto a = torch::randn({20, 2}) * 0.1 + torch::tensor({5.0, 5.0});
  const auto b = torch::randn({20, 2}) * 0.1 - torch::tensor({5.0, 5.0});
  const auto points = torch::cat({a, b});
  const auto options = ds::ClusteringOptions().clusters(2).restarts(3).seed(7);
  const auto r = ds::kmeans(points, options);
  const auto first = r.assignments.narrow(0, 0, 20), second = r.assignments.narrow(0, 20, 20);
  EXPECT_TRUE(torch::all(first == first[0]).item<bool>());
  EXPECT_TRUE(torch::all(second == second[0]).item<bool>());
  EXPECT_NE(first[0].item<int64_t>(), second[0].item<int64_t>());
  // Inertia is the sum of squared distances to the assigned centres.
  const auto centers = r.centers.index_select(0, r.assignments);
  EXPECT_NEAR(r.inertia, (points.to(torch::kFloat64) - centers).pow(2).sum().item<double>(), 1e-3);
  EXPECT_TRUE(torch::equal(ds::kmeans(points, options).assignments, r.assignments));
}

TEST(KMeans, RejectsBadInput) {
  EXPECT_THROW(ds::kmeans(torch::ones({2, 3}), ds::ClusteringOptions().clusters(3)), c10::Error);
  EXPECT_THROW(ds::kmeans(torch::full({4, 2}, NAN), ds::ClusteringOptions().clusters(2)),
               c10::Error);
  EXPECT_THROW(ds::kmeans(torch::ones({4, 2}), ds::ClusteringOptions().clusters(2).restarts(0)),
               c10::Error);
}

// Predictions of a generalist that confuses classes only within planted groups: each example's
// mass goes mostly to random classes of its true group, a little to every class.
torch::Tensor planted_predictions(const ds::ClassSubsets& groups, int64_t classes, int64_t n,
                                  uint64_t seed) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  auto p = torch::full({n, classes}, 0.1 / classes, torch::kFloat64);
  for (int64_t i = 0; i < n; ++i) {
    const auto& group = groups[static_cast<std::size_t>(i) % groups.size()];
    const auto weights = torch::rand({static_cast<int64_t>(group.size())}, gen, torch::kFloat64);
    const auto share = weights / weights.sum() * 0.9;
    for (std::size_t j = 0; j < group.size(); ++j) p[i][group[j]] += share[static_cast<int64_t>(j)];
  }
  return p;
}

TEST(KMeans, LeavesOpenCVsGlobalGeneratorAsTheCallerHadIt) {
  torch::manual_seed(3);
  const auto points =
      torch::cat({torch::randn({20, 2}) * 0.5 + 2.0, torch::randn({20, 2}) * 0.5 - 2.0});
  const auto options = ds::ClusteringOptions().clusters(2).restarts(2).seed(7);
  cv::theRNG().state = 0x1234567890abcdefULL;
  const auto first = ds::kmeans(points, options);
  EXPECT_EQ(cv::theRNG().state, 0x1234567890abcdefULL);
  // The caller's next draw is the one it would have had without k-means.
  cv::RNG reference(0x1234567890abcdefULL);
  EXPECT_EQ(static_cast<unsigned>(cv::theRNG()), static_cast<unsigned>(reference));
  // Whatever the caller's generator holds, the same seed gives the same clusters.
  cv::theRNG().state = 42;
  EXPECT_TRUE(torch::equal(ds::kmeans(points, options).assignments, first.assignments));
  EXPECT_EQ(cv::theRNG().state, 42u);
  const auto p = planted_predictions({{0, 3, 5}, {1, 2, 8, 9}, {4, 6, 7}}, 10, 300, 4);
  const auto clustering = ds::ClusteringOptions().clusters(3).seed(9);
  const auto subsets = ds::find_class_subsets(p, clustering);
  cv::theRNG().state = 7;
  EXPECT_EQ(ds::find_class_subsets(p, clustering), subsets);
  EXPECT_EQ(cv::theRNG().state, 7u);
}

TEST(FindClassSubsets, RecoversExactlyThePlantedConfusableGroups) {
  const ds::ClassSubsets planted = {{0, 3, 5}, {1, 2, 8, 9}, {4, 6, 7}};
  for (uint64_t seed : {0, 1, 2}) {
    const auto p = planted_predictions(planted, 10, 600, seed);
    for (bool standardize : {true, false}) {
      const auto found = ds::find_class_subsets(
          p, ds::ClusteringOptions().clusters(3).seed(seed).standardize(standardize));
      EXPECT_EQ(found, planted) << "seed " << seed << " standardize " << standardize;
    }
  }
}

TEST(CorrelationFromCovariance, ScalesEachClassToUnitVarianceAndKeepsSilentClassesFinite) {
  // Variances 4 and 9, covariance 2: correlation 2 / (2 * 3). Class 2 never varies.
  const auto c = torch::tensor({{4.0, 2.0, 0.0}, {2.0, 9.0, 0.0}, {0.0, 0.0, 0.0}});
  const auto r = ds::correlation_from_covariance(c);
  EXPECT_TRUE(torch::allclose(
      r, torch::tensor({{1.0, 1.0 / 3, 0.0}, {1.0 / 3, 1.0, 0.0}, {0.0, 0.0, 1.0}}, torch::kFloat64),
      1e-15, 1e-15));
  EXPECT_THROW(ds::correlation_from_covariance(torch::ones({2, 3})), c10::Error);
}

TEST(FindClassSubsets, RecoversPlantedGroupsFromATrainedGeneralist) {
  // Synthetic images: three groups of classes whose class means are close within a group and
  // far apart across groups, so a trained classifier confuses classes within groups only.
  const ds::ClassSubsets planted = {{0, 4, 7}, {1, 3, 8, 9}, {2, 5, 6}};
  torch::manual_seed(11);
  const int64_t classes = 10, n = 3000, dim = 16;
  const auto group_means = torch::randn({3, dim}) * 4.0;
  auto class_means = torch::zeros({classes, dim});
  for (std::size_t g = 0; g < planted.size(); ++g) {
    for (const auto c : planted[g]) {
      class_means[c] = group_means[static_cast<int64_t>(g)] + torch::randn({dim}) * 0.3;
    }
  }
  const auto labels = torch::randint(classes, {n}, torch::kInt64);
  const auto x = class_means.index_select(0, labels) + torch::randn({n, dim});
  distillery::data::Dataset train{x.narrow(0, 0, 2000).view({2000, 1, 4, 4}),
                                  labels.narrow(0, 0, 2000), classes};
  distillery::data::Dataset heldout{x.narrow(0, 2000, 1000).view({1000, 1, 4, 4}),
                                    labels.narrow(0, 2000, 1000), classes};
  torch::nn::Sequential generalist(torch::nn::Flatten(), torch::nn::Linear(dim, classes));
  distillery::train_supervised(
      generalist, train,
      distillery::TrainOptions().trainer(
          distillery::TrainerOptions().epochs(5).batch_size(64).threads(1).reseed(true)));
  torch::NoGradGuard no_grad;
  generalist->eval();
  const auto p = torch::softmax(generalist->forward(heldout.images), 1);
  EXPECT_EQ(ds::find_class_subsets(p, ds::ClusteringOptions().clusters(3)), planted);
}

TEST(FindClassSubsets, DropsClustersSmallerThanTheMinimumSize) {
  const ds::ClassSubsets planted = {{0, 1, 2, 3}, {4, 5, 6, 7}, {8}, {9}};
  const auto p = planted_predictions(planted, 10, 800, 5);
  const auto found = ds::find_class_subsets(p, ds::ClusteringOptions().clusters(4));
  EXPECT_EQ(found, (ds::ClassSubsets{{0, 1, 2, 3}, {4, 5, 6, 7}}));
  const auto all = ds::find_class_subsets(p, ds::ClusteringOptions().clusters(4).min_subset_size(1));
  EXPECT_EQ(all, planted);
}

TEST(ClassSubsets, ValidationNamesTheSubsetAndClass) {
  EXPECT_EQ(invalid_argument_of([] { ds::validate_class_subsets({{0, 1}, {1, 2}}, 10); }),
            "subset 1: class 1 appears twice; subsets must be disjoint");
  EXPECT_EQ(invalid_argument_of([] { ds::validate_class_subsets({{0, 10}}, 10); }),
            "subset 0: class 10 is outside [0, 10)");
  EXPECT_EQ(invalid_argument_of([] { ds::validate_class_subsets({{2}, {}}, 10); }),
            "subset 1 is empty");
  EXPECT_EQ(invalid_argument_of([] { ds::validate_class_subsets({{0, 1, 2}}, 3); }),
            "subset 0 holds all 3 classes; a specialist needs a dustbin of other classes");
  EXPECT_EQ(invalid_argument_of([] { ds::validate_class_subsets({}, 3); }),
            "no class subsets given; give at least one");
}

TEST(ClassSubsets, JsonIsReadStrictlyAndNormalised) {
  const auto subsets = ds::parse_class_subsets("[[9, 5, 7], [6, 0]]", 10, "cfg");
  EXPECT_EQ(subsets, (ds::ClassSubsets{{0, 6}, {5, 7, 9}}));
  EXPECT_EQ(invalid_argument_of([] { ds::parse_class_subsets("[[1, \"a\"]]", 10, "cfg"); }),
            "cfg: expected an array of arrays of class indices, e.g. [[0, 2, 4, 6], [5, 7, 9]]");
  EXPECT_EQ(invalid_argument_of([] {
              ds::parse_class_subsets(R"({"num_classes": 3, "subsets": [[0, 1]]})", 10, "f.json");
            }),
            "f.json: the subsets were made for 3 classes but this data set has 10");
  EXPECT_EQ(invalid_argument_of([] {
              ds::parse_class_subsets(R"({"subsets": [[0, 1]], "names": []})", 10, "f.json");
            }),
            "f.json: unknown key \"names\" (known: num_classes, subsets, subset_names)");
  EXPECT_EQ(invalid_argument_of([] { ds::parse_class_subsets("[[1, 2]", 10, "cfg"); })
                .rfind("cfg: malformed class subsets JSON: ", 0),
            0u);
}

TEST(ClassSubsets, SaveAndLoadRoundTripWithNames) {
  distillery::test::TempDir dir;
  const ds::ClassSubsets subsets = {{0, 2, 4, 6}, {5, 7, 9}};
  const std::vector<std::string> names = {"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                                          "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"};
  ds::save_class_subsets(dir.file("s.json"), subsets, 10, names);
  EXPECT_EQ(ds::load_class_subsets(dir.file("s.json"), 10), subsets);
  const auto json = nlohmann::json::parse(distillery::test::slurp(dir.file("s.json")));
  EXPECT_EQ(json.at("subset_names")[1], nlohmann::json({"Sandal", "Sneaker", "Ankle boot"}));
  EXPECT_EQ(distillery::test::runtime_error_of([&] { ds::load_class_subsets(dir.file("s.json"), 5); }),
            dir.file("s.json") + ": the subsets were made for 10 classes but this data set has 5");
  distillery::test::write_bytes(dir.file("bad.json"), {'[', '[', '1'});
  EXPECT_NE(distillery::test::runtime_error_of([&] { ds::load_class_subsets(dir.file("bad.json"), 10); })
                .find(dir.file("bad.json") + ": malformed class subsets JSON"),
            std::string::npos);
}

}  // namespace

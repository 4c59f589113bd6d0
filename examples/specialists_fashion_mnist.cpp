// A generalist and its specialists (Hinton et al. 2015, §5) on Fashion-MNIST, calling the
// library directly (no JSON): find the confusable classes from the generalist's predictions,
// train one specialist per group, and combine them at test time.
//
//   specialists_fashion_mnist [data_dir] [epochs] [train_limit]
//
// data_dir defaults to /usr/share/datasets/fashion-mnist, epochs (of the generalist; each
// specialist gets half, at least 1) to 4, train_limit to 0 (all 60,000 training images).
// These short defaults show the API, not the gain: on the full data they gave 1005 test errors
// for the generalist and 1018 with its specialists. With a well-trained generalist and longer
// specialist training (`distillery specialists configs/fashion_mnist_specialists.json`) the
// combination makes fewer errors: 735 against 748.

#include <torch/torch.h>

#include <algorithm>
#include <cstdio>
#include <exception>
#include <functional>
#include <string>
#include <vector>

#include "distillery/data/dataset.h"
#include "distillery/metrics.h"
#include "distillery/models.h"
#include "distillery/runtime.h"
#include "distillery/specialists/clustering.h"
#include "distillery/specialists/inference.h"
#include "distillery/specialists/training.h"
#include "distillery/trainer.h"

namespace {

namespace dd = distillery::data;
namespace ds = distillery::specialists;

void print_subsets(const ds::ClassSubsets& subsets) {
  std::printf("subsets:");
  for (const auto& s : subsets) {
    std::printf(" {");
    for (std::size_t i = 0; i < s.size(); ++i) {
      std::printf(i ? ", %lld" : "%lld", static_cast<long long>(s[i]));
    }
    std::printf("}");
  }
  std::printf("\n");
}

// One specialist per subset, fine-tuned from the generalist on half-subset batches.
std::vector<ds::Specialist> train_specialists(
    const distillery::Model& generalist, const std::function<distillery::Model()>& make_network,
    const ds::ClassSubsets& subsets, const ds::SpecialistData& data, int64_t epochs) {
  const auto training =
      distillery::TrainerOptions().epochs(std::max<int64_t>(1, epochs / 2)).learning_rate(5e-4)
          .reseed(true);
  const auto options = ds::SpecialistTrainingOptions().trainer(training).loss(
      distillery::KDLossOptions().temperature(2.0).alpha(0.5));
  std::vector<ds::Specialist> specialists;
  for (const auto& subset : subsets) {
    specialists.push_back(ds::train_specialist(generalist, make_network, subset, data, options)
                              .specialist);
  }
  return specialists;
}

}  // namespace

int main(int argc, char** argv) try {
  const std::string data_dir = argc > 1 ? argv[1] : "/usr/share/datasets/fashion-mnist";
  const int64_t epochs = argc > 2 ? std::stoll(argv[2]) : 4;
  const int64_t train_limit = argc > 3 ? std::stoll(argv[3]) : 0;

  // 1. Data, with the last tenth of the training images held out for the covariance.
  auto all = dd::load_mnist_format(data_dir, dd::Split::kTrain);
  if (train_limit > 0) all = all.head(train_limit);
  const auto test = dd::load_mnist_format(data_dir, dd::Split::kTest);
  distillery::retain_freed_memory();  // after loading the data (runtime.h)
  const int64_t heldout_count = all.size() / 10;
  const auto train = all.head(all.size() - heldout_count);
  const auto heldout = all.slice(all.size() - heldout_count, heldout_count);

  // 2. The generalist.
  const auto architecture = distillery::ConvNetOptions().channels({16, 32}).hidden({128});
  const auto make_network = [&] {
    return distillery::Model(distillery::make_convnet(architecture, distillery::InputShape{}, 10));
  };
  torch::manual_seed(0);
  auto generalist = distillery::make_convnet(architecture, distillery::InputShape{}, 10);
  distillery::train_supervised(
      generalist, train,
      distillery::TrainOptions().trainer(distillery::TrainerOptions().epochs(epochs).reseed(true))
          .phase("generalist").evaluate_on("test", test));

  // 3. Class subsets: K-means on the correlation of its held-out predictions.
  const auto probabilities =
      torch::softmax(distillery::compute_logits(generalist, heldout), 1);
  const auto subsets = ds::find_class_subsets(probabilities, ds::ClusteringOptions().clusters(4));
  print_subsets(subsets);
  if (subsets.empty()) {
    std::printf("no cluster of 2 or more classes: nothing for specialists to do\n");
    return 0;
  }

  // 4. The specialists; 5. the generalist alone vs the KL-minimising combination with the
  // active specialists.
  const ds::SpecialistData data{train, distillery::compute_logits(generalist, train), test};
  auto specialists = train_specialists(generalist, make_network, subsets, data, epochs);
  const auto alone = distillery::evaluate(generalist, test);
  const auto combined = ds::predict_with_specialists(generalist, specialists, test,
                                                     ds::CombineOptions().top_n(1));
  const auto errors = combined.probabilities.argmax(1).ne(test.labels).sum().item<int64_t>();
  std::printf("generalist: %lld test errors\ngeneralist + %zu specialists: %lld test errors\n",
              static_cast<long long>(alone.errors), specialists.size(),
              static_cast<long long>(errors));
  return 0;
} catch (const std::exception& e) {
  std::fprintf(stderr, "error: %s\n", e.what());
  return 1;
}

#include "distillery/specialists/specialist.h"

#include <torch/torch.h>

#include <nlohmann/json.hpp>

#include <cmath>
#include <stdexcept>
#include <utility>

namespace distillery::specialists {
namespace {

torch::Tensor as_index(const std::vector<int64_t>& classes) {
  return torch::tensor(classes, torch::kInt64);
}

}  // namespace

torch::Tensor dustbin_label_map(const std::vector<int64_t>& subset, int64_t num_classes) {
  const auto size = static_cast<int64_t>(subset.size());
  TORCH_CHECK(size >= 1 && size < num_classes, "a specialist subset needs 1 to ", num_classes - 1,
              " of the ", num_classes, " classes, got ", size);
  auto map = torch::full({num_classes}, size, torch::kInt64);
  auto m = map.accessor<int64_t, 1>();
  for (int64_t i = 0; i < size; ++i) {
    const auto c = subset[static_cast<std::size_t>(i)];
    TORCH_CHECK(c >= 0 && c < num_classes, "class ", c, " of the subset is outside [0, ",
                num_classes, ")");
    TORCH_CHECK(m[c] == size, "class ", c, " appears twice in the subset");
    m[c] = i;
  }
  return map;
}

torch::Tensor to_specialist_labels(const torch::Tensor& labels, const std::vector<int64_t>& subset,
                                   int64_t num_classes) {
  const auto map = dustbin_label_map(subset, num_classes).to(labels.device());
  TORCH_CHECK(labels.dim() == 1 && labels.scalar_type() == torch::kInt64,
              "labels must be a 1-D int64 tensor, got ", labels.sizes());
  if (labels.numel() > 0) {
    TORCH_CHECK(labels.min().item<int64_t>() >= 0 && labels.max().item<int64_t>() < num_classes,
                "labels must be in [0, ", num_classes, ")");
  }
  return map.index_select(0, labels);
}

torch::Tensor reduce_log_probabilities(const torch::Tensor& log_probabilities,
                                       const std::vector<int64_t>& subset) {
  TORCH_CHECK(log_probabilities.dim() == 2, "log-probabilities must be [B, C], got ",
              log_probabilities.sizes());
  const int64_t classes = log_probabilities.size(1);
  const auto map = dustbin_label_map(subset, classes);
  const auto size = static_cast<int64_t>(subset.size());
  const auto rest = torch::nonzero(map == size).flatten().to(log_probabilities.device());
  const auto inside = log_probabilities.index_select(1, as_index(subset).to(log_probabilities.device()));
  const auto dustbin = log_probabilities.index_select(1, rest).logsumexp(1, /*keepdim=*/true);
  return torch::cat({inside, dustbin}, 1);
}

torch::Tensor reduce_logits(const torch::Tensor& logits, const std::vector<int64_t>& subset,
                            double temperature) {
  TORCH_CHECK(temperature > 0 && std::isfinite(temperature), "temperature must be > 0, got ",
              temperature);
  return temperature *
         reduce_log_probabilities(torch::log_softmax(logits / temperature, 1), subset);
}

double dustbin_bias_correction(double f) {
  if (!(f > 0 && f < 1)) {
    throw std::invalid_argument("the specialist classes' share of the training data must be in "
                                "(0, 1), got " + std::to_string(f));
  }
  const double a = 0.5 / f;          // over-sampling of the specialist classes
  const double b = 0.5 / (1.0 - f);  // under-sampling of the dustbin
  return std::log(a / b);
}

torch::Tensor to_sampled_prior(const torch::Tensor& logits, double f) {
  dustbin_bias_correction(f);  // checks 0 < f < 1
  TORCH_CHECK(logits.dim() == 2, "reduced logits must be [B, |S| + 1], got ", logits.sizes());
  auto shift = torch::full({logits.size(1)}, std::log(0.5 / f), logits.options());
  shift[logits.size(1) - 1] = std::log(0.5 / (1.0 - f));
  return logits + shift;
}

DustbinReductionImpl::DustbinReductionImpl(const std::vector<int64_t>& classes,
                                           int64_t num_classes) {
  const auto map = dustbin_label_map(classes, num_classes);
  subset = register_buffer("subset", as_index(classes));
  rest = register_buffer(
      "rest", torch::nonzero(map == static_cast<int64_t>(classes.size())).flatten());
  dustbin_bias = register_buffer("dustbin_bias", torch::zeros({}));
}

torch::Tensor DustbinReductionImpl::forward(const torch::Tensor& logits) {
  TORCH_CHECK(logits.dim() == 2 && logits.size(1) == subset.size(0) + rest.size(0),
              "a dustbin reduction over ", subset.size(0) + rest.size(0),
              " classes got logits of shape ", logits.sizes());
  const auto dustbin = logits.index_select(1, rest).logsumexp(1, /*keepdim=*/true) +
                       dustbin_bias.to(logits.dtype());
  return torch::cat({logits.index_select(1, subset), dustbin}, 1);
}

namespace {

// A network that is not a Sequential as one module of the specialist's Sequential.
class NetworkModuleImpl : public torch::nn::Module {
 public:
  explicit NetworkModuleImpl(Model network) : network_(std::move(network)) {
    register_module("network", network_.ptr());
  }
  torch::Tensor forward(const torch::Tensor& x) { return network_(x); }

 private:
  Model network_;
};
TORCH_MODULE(NetworkModule);

// `network` then `reduction`, in one Sequential sharing their parameters: a Sequential network's
// layers one by one (so the specialist's layers are the generalist's), any other as one module.
torch::nn::Sequential with_reduction(const Model& network, DustbinReduction& reduction) {
  torch::nn::Sequential model;
  if (auto layers = std::dynamic_pointer_cast<torch::nn::SequentialImpl>(network.ptr())) {
    for (const auto& layer : *layers) model->push_back(layer);
  } else {
    model->push_back(NetworkModule(network));
  }
  model->push_back(reduction);
  return model;
}

Specialist assemble(Model network, int64_t num_classes, const std::vector<int64_t>& subset) {
  Specialist s;
  s.network = std::move(network);
  s.reduction = DustbinReduction(subset, num_classes);
  s.model = with_reduction(s.network, s.reduction);
  s.num_classes = num_classes;
  s.classes = subset;
  return s;
}

}  // namespace

Specialist make_specialist(const Model& generalist, const std::function<Model()>& make_network,
                           int64_t num_classes, const std::vector<int64_t>& subset) {
  dustbin_label_map(subset, num_classes);
  TORCH_CHECK(static_cast<bool>(make_network),
              "make_specialist needs a function that builds the generalist's architecture");
  auto network = make_network();
  TORCH_CHECK(!network.is_empty(), "make_network built an empty model");
  torch::NoGradGuard no_grad;
  auto copy_all = [&](const auto& into, const auto& from) {
    for (const auto& item : into) {
      const auto* other = from.find(item.key());
      TORCH_CHECK(other != nullptr && other->sizes() == item.value().sizes(),
                  "the generalist does not match the network built for the specialist at ",
                  item.key(), " (a generalist of that architecture with ", num_classes,
                  " classes is expected)");
      item.value().copy_(*other);
    }
  };
  copy_all(network->named_parameters(), generalist->named_parameters());
  copy_all(network->named_buffers(), generalist->named_buffers());
  TORCH_CHECK(generalist->named_parameters().size() == network->named_parameters().size(),
              "the generalist has parameters the network built for the specialist has not");
  auto s = assemble(network, num_classes, subset);
  if (const auto params = generalist->parameters(); !params.empty()) {
    s.model->to(params.front().device());
  }
  return s;
}

void shift_dustbin_bias(Specialist& specialist, double shift) {
  torch::NoGradGuard no_grad;
  specialist.reduction->dustbin_bias.add_(shift);
  specialist.dustbin_bias += shift;
}

void save_specialist(const std::string& path, const Specialist& specialist,
                     const ModelRecord& record) {
  TORCH_CHECK(record.num_classes == specialist.num_classes, "the record of a specialist over ",
              specialist.num_classes, " classes says ", record.num_classes);
  const nlohmann::json metadata = {{"kind", "specialist"},
                                   {"classes", specialist.classes},
                                   {"subset_share", specialist.subset_share},
                                   {"dustbin_bias", specialist.dustbin_bias},
                                   {"dustbin_correction", specialist.dustbin_correction}};
  auto with_metadata = record;
  with_metadata.metadata = metadata.dump();
  save_model(path, specialist.network, with_metadata);
}

Specialist load_specialist(const std::string& path,
                           const std::function<Model(const ModelRecord&)>& build_network) {
  const auto record = read_model_record(path);
  nlohmann::json m;
  try {
    m = nlohmann::json::parse(record.metadata);
  } catch (const nlohmann::json::exception& e) {
    throw std::runtime_error(path + ": damaged specialist record: " + e.what());
  }
  if (!m.is_object() || m.value("kind", "") != "specialist") {
    throw std::runtime_error(path + ": not a specialist (a model file without a specialist's "
                             "classes); write specialists with save_specialist");
  }
  std::vector<int64_t> classes;
  double share = 0, bias = 0, correction = 0;
  try {
    classes = m.at("classes").get<std::vector<int64_t>>();
    share = m.at("subset_share").get<double>();
    bias = m.at("dustbin_bias").get<double>();
    correction = m.at("dustbin_correction").get<double>();
    dustbin_label_map(classes, record.num_classes);
  } catch (const std::exception& e) {
    throw std::runtime_error(path + ": damaged specialist record: " + e.what());
  }
  auto network = build_network(record);
  load_model_weights(path, network);
  network->eval();
  auto s = assemble(network, record.num_classes, classes);
  s.subset_share = share;
  s.dustbin_correction = correction;
  shift_dustbin_bias(s, bias);
  s.model->eval();
  return s;
}

}  // namespace distillery::specialists

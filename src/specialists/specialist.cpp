#include "distillery/specialists/specialist.h"

#include <torch/torch.h>

#include <cmath>
#include <stdexcept>

namespace distillery::specialists {
namespace {

torch::nn::Linear head_of(torch::nn::Sequential& model, const char* which) {
  TORCH_CHECK(!model->is_empty(), "the ", which, " is an empty Sequential");
  auto last = model->ptr(model->size() - 1);
  auto* linear = last->as<torch::nn::Linear>();
  std::string name = last->name();
  if (name.size() > 4 && name.compare(name.size() - 4, 4, "Impl") == 0) name.resize(name.size() - 4);
  TORCH_CHECK(linear != nullptr, "the ", which, "'s last module is ", name,
              "; a specialist needs a Linear head to copy and extend");
  return torch::nn::Linear(std::dynamic_pointer_cast<torch::nn::LinearImpl>(last));
}

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

Specialist make_specialist(torch::nn::Sequential& generalist, const nlohmann::json& spec,
                           InputShape input, int64_t num_classes,
                           const std::vector<int64_t>& subset) {
  const auto map = dustbin_label_map(subset, num_classes);
  const auto size = static_cast<int64_t>(subset.size());
  auto source_head = head_of(generalist, "generalist");
  TORCH_CHECK(source_head->weight.size(0) == num_classes, "the generalist's head has ",
              source_head->weight.size(0), " outputs but the data has ", num_classes, " classes");
  Specialist s;
  s.spec = spec;
  s.input = input;
  s.num_classes = num_classes;
  s.classes = subset;
  s.model = build_model(spec, input, size + 1, "generalist.model");
  auto head = head_of(s.model, "specialist");
  TORCH_CHECK(head->bias.defined() && source_head->bias.defined(),
              "the head must have a bias (the dustbin correction shifts it)");

  torch::NoGradGuard no_grad;
  const auto source = generalist->named_parameters();
  const auto source_buffers = generalist->named_buffers();
  const std::string head_prefix = std::to_string(s.model->size() - 1) + ".";
  auto copy_all = [&](const auto& into, const auto& from) {
    for (const auto& item : into) {
      if (item.key().rfind(head_prefix, 0) == 0) continue;  // the head is set below
      const auto* other = from.find(item.key());
      TORCH_CHECK(other != nullptr && other->sizes() == item.value().sizes(),
                  "the generalist does not match its architecture spec at ", item.key());
      item.value().copy_(*other);
    }
  };
  copy_all(s.model->named_parameters(), source);
  copy_all(s.model->named_buffers(), source_buffers);
  const auto rest = torch::nonzero(map == size).flatten();
  const auto rows = as_index(subset).to(source_head->weight.device());
  head->weight.narrow(0, 0, size).copy_(source_head->weight.index_select(0, rows));
  head->bias.narrow(0, 0, size).copy_(source_head->bias.index_select(0, rows));
  const auto rest_rows = rest.to(source_head->weight.device());
  head->weight[size].copy_(source_head->weight.index_select(0, rest_rows).mean(0));
  head->bias[size].copy_(source_head->bias.index_select(0, rest_rows).mean() +
                         std::log(static_cast<double>(rest.size(0))));
  s.model->to(source_head->weight.device());
  return s;
}

void shift_dustbin_bias(Specialist& specialist, double shift) {
  auto head = head_of(specialist.model, "specialist");
  TORCH_CHECK(head->bias.defined(), "the specialist's head has no bias");
  torch::NoGradGuard no_grad;
  head->bias[head->bias.size(0) - 1].add_(shift);
  specialist.dustbin_bias += shift;
}

void save_specialist(const std::string& path, Specialist& specialist) {
  const nlohmann::json metadata = {{"kind", "specialist"},
                                   {"classes", specialist.classes},
                                   {"num_classes", specialist.num_classes},
                                   {"subset_share", specialist.subset_share},
                                   {"dustbin_bias", specialist.dustbin_bias}};
  save_model(path, specialist.model, specialist.spec, specialist.input,
             static_cast<int64_t>(specialist.classes.size()) + 1, metadata);
}

Specialist load_specialist(const std::string& path) {
  auto saved = load_model(path);
  const auto& m = saved.metadata;
  if (!m.is_object() || m.value("kind", "") != "specialist") {
    throw std::runtime_error(path + ": not a specialist (a model file without a specialist's "
                             "classes); write specialists with save_specialist");
  }
  Specialist s;
  try {
    s.classes = m.at("classes").get<std::vector<int64_t>>();
    s.num_classes = m.at("num_classes").get<int64_t>();
    s.subset_share = m.at("subset_share").get<double>();
    s.dustbin_bias = m.at("dustbin_bias").get<double>();
    dustbin_label_map(s.classes, s.num_classes);
  } catch (const std::exception& e) {
    throw std::runtime_error(path + ": damaged specialist record: " + e.what());
  }
  if (saved.num_classes != static_cast<int64_t>(s.classes.size()) + 1) {
    throw std::runtime_error(path + ": the model has " + std::to_string(saved.num_classes) +
                             " outputs but its subset needs " +
                             std::to_string(s.classes.size() + 1));
  }
  s.model = saved.model;
  s.spec = saved.spec;
  s.input = saved.input;
  return s;
}

}  // namespace distillery::specialists

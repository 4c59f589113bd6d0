#include "distillery/app/specialists/pipeline.h"

#include <spdlog/spdlog.h>
#include <torch/torch.h>

#include <stdexcept>

#include "distillery/io.h"
#include "distillery/metrics.h"
#include "distillery/app/model_specs.h"
#include "distillery/models.h"
#include "distillery/app/output_dir.h"
#include "distillery/specialists/training.h"
#include "run_support.h"

namespace distillery::specialists {
namespace {

nlohmann::json to_json(const SpecialistReport& r) {
  return {{"classes", r.classes},
          {"subset_share", r.subset_share},
          {"dustbin_correction", r.dustbin_correction},
          {"test_errors", r.test_errors},
          {"generalist_test_errors", r.generalist_test_errors},
          {"train_seconds", r.train_seconds}};
}

int64_t errors_in(const torch::Tensor& predictions, const torch::Tensor& labels,
                  const ClassSubsets& subsets) {
  std::vector<int64_t> classes;
  for (const auto& s : subsets) classes.insert(classes.end(), s.begin(), s.end());
  const auto inside = torch::isin(labels, torch::tensor(classes, torch::kInt64));
  return predictions.ne(labels).logical_and(inside).sum().item<int64_t>();
}

using Callbacks = std::vector<std::shared_ptr<Callback>>;

void check_config(const ExperimentConfig& c) {
  if (!c.specialists) {
    throw ConfigError("specialists: required key is missing; `distillery specialists` needs a "
                      "\"generalist\" and a \"specialists\" section (see configs/"
                      "fashion_mnist_specialists.json)");
  }
  if (!c.data.omit_classes.empty() || c.data.unlabeled) {
    throw ConfigError(std::string(c.data.unlabeled ? "data.unlabeled" : "data.omit_classes") +
                      ": not used by `distillery specialists` (specialists train on every labeled "
                      "training image); remove it or run `distillery run`");
  }
}

// Step 2: the subsets given, or K-means on the covariance of the generalist's predictions.
void choose_subsets(const SpecialistsConfig& sc, const Model& generalist,
                    const ExperimentData& d, const torch::Tensor& train_logits,
                    torch::Device device, SpecialistsResult& result) {
  result.subsets = sc.subsets;
  result.subsets_source = "given";
  if (!result.subsets.empty()) return;
  const auto cluster_logits =
      sc.cluster_on == ClusterOn::kHeldout
          ? compute_logits([&](const torch::Tensor& x) { return generalist(x); },
                           d.heldout, sc.training.eval_batch_size(), device)
          : train_logits;
  const auto probabilities = torch::softmax(cluster_logits, 1);
  const auto covariance = prediction_covariance(probabilities);
  const int64_t classes = d.train.num_classes;
  for (int64_t i = 0; i < classes; ++i) {
    const auto row = covariance[i].contiguous();
    result.covariance.emplace_back(row.data_ptr<double>(), row.data_ptr<double>() + classes);
  }
  result.subsets = find_class_subsets(probabilities, sc.clustering);
  result.subsets_source = "clustering";
  if (result.subsets.empty()) {
    throw std::runtime_error(
        "clustering the classes into " + std::to_string(sc.clustering.clusters()) +
        " clusters left no cluster of at least " + std::to_string(sc.clustering.min_subset_size()) +
        " classes; lower specialists.min_subset_size or specialists.clusters, or give "
        "specialists.subsets by hand");
  }
}

// Step 3: one specialist per subset, fine-tuned from the generalist, each saved and evaluated
// on its own task (S + dustbin) beside the generalist on the same task.
std::vector<Specialist> train_specialists(const SpecialistsConfig& sc,
                                          const Model& generalist,
                                          const nlohmann::json& spec, const ExperimentData& d,
                                          const torch::Tensor& train_logits,
                                          const torch::Tensor& test_logits,
                                          const Callbacks& callbacks, const OutputDirectory& out,
                                          SpecialistsResult& result) {
  const torch::Device device(sc.training.device());
  const auto input = detail::shape_of(d.train);
  const int64_t classes = d.train.num_classes;
  const auto make_network = [&] {
    return build_model(spec, input, classes, "generalist.model");
  };
  const SpecialistData data{d.train, train_logits, d.test};
  std::vector<Specialist> trained;
  for (std::size_t m = 0; m < result.subsets.size(); ++m) {
    const auto phase = "specialist_" + std::to_string(m);
    auto run = train_specialist(generalist, make_network, result.subsets[m], data,
                                SpecialistTrainingOptions()
                                    .trainer(sc.training)
                                    .loss(sc.loss)
                                    .prior(sc.soft_target_prior)
                                    .phase(phase)
                                    .callbacks(callbacks));
    spdlog::info("{}: before training (at the batches' prior), {} test errors on S + dustbin",
                 phase, run.start.errors);
    auto& s = run.specialist;
    save_specialist(out.path(phase + ".pt"), s,
                    model_record(spec, input, classes, model_info_of(d.train)));
    data::Dataset mapped = d.test;
    mapped.labels = to_specialist_labels(d.test.labels, s.classes, d.train.num_classes);
    mapped.num_classes = static_cast<int64_t>(s.classes.size()) + 1;
    mapped.class_names.clear();  // the data set's names no longer name these |S| + 1 labels
    s.model->eval();
    const auto eval = evaluate([&](const torch::Tensor& x) { return s.model->forward(x); }, mapped,
                               sc.training.eval_batch_size(), device);
    const auto general_errors =
        evaluate_logits(reduce_logits(test_logits, s.classes, 1.0), mapped.labels).errors;
    result.specialists.push_back({s.classes, s.subset_share, s.dustbin_correction, eval.errors,
                                  general_errors, run.history.train_seconds});
    spdlog::info("{}: classes {}, f = {:.4f}, dustbin correction {:+.4f}, test errors on S + "
                 "dustbin: {} (generalist {})",
                 phase, nlohmann::json(s.classes).dump(), s.subset_share, s.dustbin_correction,
                 eval.errors, general_errors);
    trained.push_back(std::move(s));
  }
  return trained;
}

// Step 4: generalist alone vs generalist + specialists on the test set, and what they cost.
void compare_on_test(const SpecialistsConfig& sc, const Model& generalist,
                     std::vector<Specialist>& trained, const ExperimentData& d,
                     const torch::Tensor& test_logits, SpecialistsResult& result) {
  const torch::Device device(sc.training.device());
  const auto combination = predict_with_specialists(generalist, trained, d.test,
                                                    sc.inference, sc.training.eval_batch_size(),
                                                    device);
  const auto combined_eval = evaluate_logits(
      combination.probabilities.clamp_min(1e-30).log().to(torch::kFloat32), d.test.labels);
  int64_t parameters = result.generalist.parameters, multiply_adds = result.generalist.multiply_adds;
  std::vector<int64_t> specialist_multiply_adds;
  for (auto& s : trained) {
    parameters += count_parameters(*s.model);
    specialist_multiply_adds.push_back(count_multiply_adds(s.model, detail::shape_of(d.train)));
    multiply_adds += specialist_multiply_adds.back();
  }
  double train_seconds = result.generalist.train_seconds;
  for (const auto& r : result.specialists) train_seconds += r.train_seconds;
  result.combined = detail::report_for(combined_eval, parameters, multiply_adds, train_seconds);
  const auto general_predictions = test_logits.argmax(1);
  const auto combined_predictions = combination.probabilities.argmax(1);
  result.generalist_errors_in_subsets = errors_in(general_predictions, d.test.labels, result.subsets);
  result.combined_errors_in_subsets = errors_in(combined_predictions, d.test.labels, result.subsets);
  const auto any_active = combination.active.any(1);
  result.active_cases = any_active.sum().item<int64_t>();
  result.changed_predictions = general_predictions.ne(combined_predictions).sum().item<int64_t>();
  if (result.active_cases > 0) {
    result.mean_iterations =
        combination.iterations.index({any_active}).to(torch::kFloat64).mean().item<double>();
  }
  result.not_converged = combination.converged.logical_not().sum().item<int64_t>();
  // What one test image costs on average: the generalist plus the specialists active for it.
  const auto active_share = combination.active.to(torch::kFloat64).mean(0);  // [M]
  double active_cost = static_cast<double>(result.generalist.multiply_adds);
  for (std::size_t m = 0; m < trained.size(); ++m) {
    active_cost += active_share[static_cast<int64_t>(m)].item<double>() *
                   static_cast<double>(specialist_multiply_adds[m]);
  }
  result.mean_multiply_adds = active_cost;
}

nlohmann::json results_json(const ExperimentConfig& c, const SpecialistsResult& result,
                            const std::vector<std::string>& names) {
  const auto& sc = *c.specialists;
  nlohmann::json subset_names = nlohmann::json::array();
  for (const auto& s : result.subsets) {
    subset_names.push_back(nlohmann::json::array());
    for (const auto k : s) subset_names.back().push_back(names.at(static_cast<std::size_t>(k)));
  }
  nlohmann::json specialist_reports = nlohmann::json::array();
  for (const auto& r : result.specialists) specialist_reports.push_back(to_json(r));
  return {
      {"name", c.name},
      {"dataset", c.data.dataset},
      {"subsets", result.subsets},
      {"subset_names", subset_names},
      {"subsets_source", result.subsets_source},
      {"clustered_matrix", result.subsets_source != "clustering" ? nlohmann::json(nullptr)
                           : sc.clustering.standardize()      ? nlohmann::json("correlation")
                                                                : nlohmann::json("covariance")},
      {"cluster_on", result.subsets_source == "clustering" ? nlohmann::json(cluster_on_names().name(sc.cluster_on))
                                                             : nlohmann::json(nullptr)},
      {"covariance", result.covariance},
      {"generalist", distillery::to_json(result.generalist)},
      {"combined", distillery::to_json(result.combined)},
      {"specialists", specialist_reports},
      {"errors_in_subsets",
       {{"generalist", result.generalist_errors_in_subsets},
        {"combined", result.combined_errors_in_subsets}}},
      {"combination",
       {{"top_n", sc.inference.top_n()},
        {"active_cases", result.active_cases},
        {"changed_predictions", result.changed_predictions},
        {"mean_iterations", result.mean_iterations},
        {"not_converged", result.not_converged},
        {"mean_multiply_adds", result.mean_multiply_adds}}}};
}

}  // namespace

SpecialistsResult run_specialists(const ExperimentConfig& c, const Callbacks& user_callbacks) {
  check_config(c);
  const auto& sc = *c.specialists;
  detail::check_input_files(c);
  OutputDirectory out(c.out_dir);  // locked before anything is read or written
  detail::protect_inputs(out, c);
  std::vector<std::string> names{"config.json", "metrics.jsonl", "results.json", "subsets.json",
                                 "generalist.pt"};
  const auto specialists = sc.subsets.empty() ? static_cast<std::size_t>(sc.clustering.clusters())
                                              : sc.subsets.size();
  for (std::size_t m = 0; m < specialists; ++m) {
    names.push_back("specialist_" + std::to_string(m) + ".pt");
  }
  out.check_outputs(names);
  const auto d = load_experiment_data(c.data);
  if (!d.train.labeled()) {
    throw std::runtime_error(c.data.dir + ": the training images have no labels file; "
                             "specialists are trained on labeled data");
  }
  const torch::Device device(c.device);
  const int64_t batch = sc.training.eval_batch_size();
  write_file_atomic(out.path("config.json"), to_json(c).dump(2) + "\n");
  const auto callbacks = detail::with_metrics_file(out.path("metrics.jsonl"), user_callbacks);
  SpecialistsResult result;

  // 1. The generalist.
  auto built = detail::build_teacher(sc.generalist, d, "generalist", callbacks, &out);
  detail::check_teacher_classes(built, d, device);
  auto generalist = built.nets.at(0);
  result.generalist = detail::report_for(generalist, d, sc.training, built.train_seconds);
  detail::save_teacher(built, out, d.train);  // generalist.pt
  const auto logits_of = [&](const data::Dataset& set) {
    return compute_logits([&](const torch::Tensor& x) { return generalist(x); }, set,
                          batch, device);
  };
  const auto train_logits = logits_of(d.train);

  // 2. Class subsets.
  choose_subsets(sc, generalist, d, train_logits, device, result);
  save_class_subsets(out.path("subsets.json"), result.subsets, d.train.num_classes,
                     d.train.class_names);
  spdlog::info("class subsets ({}): {}", result.subsets_source,
               nlohmann::json(result.subsets).dump());

  // 3. One specialist per subset; 4. the comparison on the test set.
  const auto test_logits = logits_of(d.test);
  auto trained = train_specialists(sc, generalist, built.specs.at(0), d, train_logits, test_logits,
                                   callbacks, out, result);
  compare_on_test(sc, generalist, trained, d, test_logits, result);
  write_file_atomic(out.path("results.json"),
                    results_json(c, result, d.train.class_names).dump(2) + "\n");
  out.commit();
  return result;
}

}  // namespace distillery::specialists

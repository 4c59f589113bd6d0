#include "distillery/experiment.h"

#include <spdlog/spdlog.h>
#include <torch/torch.h>

#include <filesystem>
#include <stdexcept>

#include "distillery/callbacks.h"
#include "distillery/io.h"
#include "distillery/models.h"
#include "distillery/teacher.h"

namespace distillery {
namespace {

InputShape shape_of(const data::Dataset& set) {
  return InputShape{set.images.size(1), set.images.size(2), set.images.size(3)};
}

ModelReport report_for(torch::nn::Sequential& model, InputShape input, const EvalResult& test,
                       double train_seconds) {
  ModelReport r;
  r.test_errors = test.errors;
  r.test_examples = test.examples;
  r.test_accuracy = test.accuracy;
  r.parameters = count_parameters(*model);
  r.multiply_adds = count_multiply_adds(model, input);
  r.train_seconds = train_seconds;
  return r;
}

std::string out_path(const ExperimentConfig& c, const std::string& file) {
  return (std::filesystem::path(c.out_dir) / file).string();
}

std::vector<std::shared_ptr<Callback>> with_metrics_file(
    const ExperimentConfig& c, std::vector<std::shared_ptr<Callback>> callbacks) {
  callbacks.push_back(std::make_shared<MetricsJsonl>(out_path(c, "metrics.jsonl")));
  return callbacks;
}

// Builds a fresh model from `spec` with the experiment's seed, so that two copies of the
// student built this way start from identical weights.
torch::nn::Sequential fresh_model(const ExperimentConfig& c, const nlohmann::json& spec,
                                  const std::string& where, InputShape input, int64_t classes) {
  torch::manual_seed(c.seed);
  return build_model(spec, input, classes, where);
}

// Starts a run directory: the resolved config, and a fresh metrics.jsonl.
void begin_outputs(const ExperimentConfig& c) {
  write_file_atomic(out_path(c, "config.json"), to_json(c).dump(2) + "\n");
  std::error_code ec;
  std::filesystem::remove(out_path(c, "metrics.jsonl"), ec);
}

}  // namespace

nlohmann::json to_json(const ModelReport& r) {
  return {{"test_errors", r.test_errors},     {"test_examples", r.test_examples},
          {"test_accuracy", r.test_accuracy}, {"parameters", r.parameters},
          {"multiply_adds", r.multiply_adds}, {"train_seconds", r.train_seconds}};
}

std::pair<data::Dataset, data::Dataset> load_data(const DataConfig& config) {
  const auto norm = config.dataset == "mnist" ? data::kMnistNormalization
                                              : data::kFashionMnistNormalization;
  auto train = data::load_mnist_format(config.dir, data::Split::kTrain, norm);
  auto test = data::load_mnist_format(config.dir, data::Split::kTest, norm);
  if (config.train_limit > 0) train = train.head(config.train_limit);
  if (config.test_limit > 0) test = test.head(config.test_limit);
  spdlog::info("data: {} training and {} test images of {}x{} from {}", train.size(),
               test.size(), train.images.size(2), train.images.size(3), config.dir);
  return {train, test};
}

ExperimentResult run_experiment(const ExperimentConfig& c,
                                const std::vector<std::shared_ptr<Callback>>& user_callbacks) {
  const auto [train, test] = load_data(c.data);
  const auto input = shape_of(train);
  const int64_t classes = train.num_classes;
  begin_outputs(c);
  const auto callbacks = with_metrics_file(c, user_callbacks);
  const torch::Device device(c.device);
  ExperimentResult result;

  // 1. Teacher: trained here, or loaded from a checkpoint.
  torch::nn::Sequential teacher_net;
  nlohmann::json teacher_spec = c.teacher.model;
  double teacher_seconds = 0.0;
  if (!c.teacher.checkpoint.empty()) {
    auto saved = load_model(c.teacher.checkpoint);
    if (saved.num_classes != classes) {
      throw ConfigError(c.teacher.checkpoint + ": the teacher has " +
                        std::to_string(saved.num_classes) + " classes but the data has " +
                        std::to_string(classes));
    }
    teacher_net = saved.model;
    teacher_spec = saved.spec;
    spdlog::info("teacher: loaded {}", c.teacher.checkpoint);
  } else {
    teacher_net = fresh_model(c, c.teacher.model, "teacher.model", input, classes);
    spdlog::info("teacher: training {} ({} parameters)", teacher_spec.dump(),
                 count_parameters(*teacher_net));
    teacher_seconds =
        train_supervised(teacher_net, train, test, c.teacher.training, "teacher", callbacks)
            .train_seconds;
  }
  teacher_net->to(device);
  teacher_net->eval();
  const auto teacher_test =
      evaluate([&](const torch::Tensor& x) { return teacher_net->forward(x); }, test,
               c.teacher.training.eval_batch_size(), device);
  result.teacher = report_for(teacher_net, input, teacher_test, teacher_seconds);
  save_model(out_path(c, "teacher.pt"), teacher_net, teacher_spec, input, classes);

  // 2. Student from scratch on hard labels.
  auto scratch = fresh_model(c, c.student.model, "student.model", input, classes);
  spdlog::info("student: {} ({} parameters)", c.student.model.dump(), count_parameters(*scratch));
  const auto scratch_run =
      train_supervised(scratch, train, test, c.student.training, "student_scratch", callbacks);
  result.student_scratch = report_for(scratch, input, scratch_run.test, scratch_run.train_seconds);
  save_model(out_path(c, "student_scratch.pt"), scratch, c.student.model, input, classes);

  // 3. The same student (same initial weights, same batches) distilled from the teacher.
  auto distilled = fresh_model(c, c.student.model, "student.model", input, classes);
  Teacher teacher(teacher_net);
  const auto distilled_run = distill(distilled, teacher, train, test, c.student.training,
                                     c.distillation, "student_distilled", callbacks);
  result.student_distilled =
      report_for(distilled, input, distilled_run.test, distilled_run.train_seconds);
  save_model(out_path(c, "student_distilled.pt"), distilled, c.student.model, input, classes);

  const nlohmann::json results = {
      {"name", c.name},
      {"dataset", c.data.dataset},
      {"distillation",
       {{"temperature", c.distillation.temperature()}, {"alpha", c.distillation.alpha()}}},
      {"teacher", to_json(result.teacher)},
      {"student_scratch", to_json(result.student_scratch)},
      {"student_distilled", to_json(result.student_distilled)}};
  write_file_atomic(out_path(c, "results.json"), results.dump(2) + "\n");
  return result;
}

ModelReport train_model(const ExperimentConfig& c, const std::string& which,
                        const std::vector<std::shared_ptr<Callback>>& user_callbacks) {
  if (which != "teacher" && which != "student") {
    throw std::invalid_argument("train: model must be \"teacher\" or \"student\", got \"" +
                                which + "\"");
  }
  const auto& m = which == "teacher" ? c.teacher : c.student;
  if (m.model.is_null()) {
    throw ConfigError(which + ".model: required to train the " + which);
  }
  const auto [train, test] = load_data(c.data);
  const auto input = shape_of(train);
  begin_outputs(c);
  auto net = fresh_model(c, m.model, which + ".model", input, train.num_classes);
  const auto run =
      train_supervised(net, train, test, m.training, which, with_metrics_file(c, user_callbacks));
  save_model(out_path(c, which + ".pt"), net, m.model, input, train.num_classes);
  return report_for(net, input, run.test, run.train_seconds);
}

}  // namespace distillery

// The `distillery` command-line program: run, train and evaluate experiments described in
// JSON (see include/distillery/app/config.h for the schema). Exceptions from the library end
// here: they are logged and turned into a non-zero exit code.

#include <CLI/CLI.hpp>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>
#include <torch/torch.h>
#include <torch/version.h>

#include <algorithm>
#include <csignal>
#include <functional>
#include <limits>
#include <utility>
#include <cstdio>
#include <iostream>
#include <memory>
#include <string>
#include <utility>

#include "distillery/callbacks.h"
#include "distillery/app/config.h"
#include "distillery/data/dataset.h"
#include "distillery/export.h"
#include "distillery/app/experiment.h"
#include "distillery/metrics.h"
#include "distillery/app/model_specs.h"
#include "distillery/models.h"
#include "distillery/runtime.h"
#include "distillery/app/specialists/pipeline.h"
#include "distillery/version.h"
#include "evaluate.h"
#include "export.h"
#include "models.h"

namespace {

// Exit codes: 0 success, 1 runtime failure (data, training, I/O), 2 bad usage or config.
constexpr int kExitFailure = 1;
constexpr int kExitUsage = 2;

// A flag given with an empty value (`--out-dir ""`) is a usage error, not "no override".
const CLI::Validator kNonEmpty(
    [](std::string& value) { return value.empty() ? std::string("must not be empty") : std::string(); },
    "NON-EMPTY");

std::string version_text() {
  return std::string("distillery ") + distillery::kVersion + " (LibTorch " +
         std::to_string(TORCH_VERSION_MAJOR) + "." + std::to_string(TORCH_VERSION_MINOR) + "." +
         std::to_string(TORCH_VERSION_PATCH) + ")";
}

struct Overrides {
  std::string out_dir;
  std::string data_dir;
  int64_t threads = -1;
  std::string device;
};

distillery::ExperimentConfig load_with_overrides(const std::string& path, const Overrides& o) {
  auto config = distillery::load_config(path);
  if (!o.out_dir.empty()) config.out_dir = o.out_dir;
  if (!o.data_dir.empty()) config.data.dir = o.data_dir;
  if (o.threads >= 0) config.threads = o.threads;
  if (!o.device.empty()) config.device = o.device;
  if (o.threads >= 0 || !o.device.empty() || !o.out_dir.empty() || !o.data_dir.empty()) {
    // Re-resolve so that the overrides reach every trainer (teacher members included) and are
    // checked like the config's own values.
    config = distillery::parse_config(distillery::to_json(config).dump(), path + " (with overrides)");
    config.config_file = path;
  }
  // The whole run (evaluation and soft targets too) uses the configured thread count; each
  // trainer phase sets it as well, and puts back what it found.
  if (config.threads > 0) torch::set_num_threads(static_cast<int>(config.threads));
  return config;
}

std::vector<std::shared_ptr<distillery::Callback>> progress_callbacks() {
  return {std::make_shared<distillery::ProgressLogger>()};
}

void print_row(const char* name, const distillery::ModelReport& r) {
  // multiply_adds < 0: unknown (a TorchScript teacher).
  const std::string cost = r.multiply_adds < 0 ? "unknown" : std::to_string(r.multiply_adds);
  std::printf("%-18s %12lld %14s %8lld / %-6lld %9.2f%% %10.1f\n", name,
              static_cast<long long>(r.parameters), cost.c_str(),
              static_cast<long long>(r.test_errors), static_cast<long long>(r.test_examples),
              100.0 * r.test_accuracy, r.train_seconds);
}

void print_header() {
  std::printf("%-18s %12s %14s %17s %10s %10s\n", "model", "parameters", "multiply-adds",
              "test errors", "accuracy", "train s");
}

int run(const std::string& config_path, const Overrides& overrides) {
  const auto config = load_with_overrides(config_path, overrides);
  spdlog::info("experiment '{}' -> {}", config.name, config.out_dir);
  const auto result = distillery::run_experiment(config, progress_callbacks());
  print_header();
  print_row("teacher", result.teacher);
  if (result.student_scratch) print_row("student_scratch", *result.student_scratch);
  print_row("student_distilled", result.student_distilled);
  if (result.student_distilled_corrected) {
    print_row("distilled+bias", *result.student_distilled_corrected);
  }
  for (const auto& file : result.teacher_reused) {
    std::printf("teacher: reused %s (trained earlier from the same settings and data)\n",
                file.c_str());
  }
  std::printf("soft targets: %s\nresults: %s/results.json\n", result.soft_targets.c_str(),
              config.out_dir.c_str());
  return 0;
}

int train(const std::string& config_path, const std::string& which, const Overrides& overrides) {
  const auto config = load_with_overrides(config_path, overrides);
  const auto report = distillery::train_model(config, which, progress_callbacks());
  print_header();
  print_row(which.c_str(), report);
  std::printf("model: %s/train-%s/%s.pt\n", config.out_dir.c_str(), which.c_str(), which.c_str());
  return 0;
}

int soft_targets(const std::string& config_path, const std::string& output,
                 const Overrides& overrides) {
  const auto config = load_with_overrides(config_path, overrides);
  const auto path = distillery::write_soft_targets(config, output, progress_callbacks());
  std::printf("soft targets: %s\n", path.c_str());
  return 0;
}

int specialists(const std::string& config_path, const Overrides& overrides) {
  const auto config = load_with_overrides(config_path, overrides);
  spdlog::info("specialists experiment '{}' -> {}", config.name, config.out_dir);
  const auto r = distillery::specialists::run_specialists(config, progress_callbacks());
  print_header();
  print_row("generalist", r.generalist);
  print_row("+ specialists", r.combined);
  std::printf("subsets (%s): %s\n", r.subsets_source.c_str(), nlohmann::json(r.subsets).dump().c_str());
  std::printf("test errors on the subsets' classes: generalist %lld, combined %lld\n",
              static_cast<long long>(r.generalist_errors_in_subsets),
              static_cast<long long>(r.combined_errors_in_subsets));
  std::printf("active on %lld test images, %lld predictions changed, %.1f iterations on average "
              "(%lld not converged)\n",
              static_cast<long long>(r.active_cases), static_cast<long long>(r.changed_predictions),
              r.mean_iterations, static_cast<long long>(r.not_converged));
  std::printf("multiply-adds per image with only the active specialists run: %.0f (the table "
              "counts every specialist)\nresults: %s/results.json\n",
              r.mean_multiply_adds, config.out_dir.c_str());
  return 0;
}

// The parsed command line.
struct CommandLine {
  CLI::App app{"distillery: distil large teacher networks into small, fast students "
               "(Hinton, Vinyals & Dean 2015)"};
  bool verbose = false, quiet = false;
  Overrides overrides;
  std::string config_path, which = "teacher", output, model_path;
  distillery::tool::EvaluateOptions eval;
  distillery::tool::ModelsOptions models;
  distillery::tool::ExportOptions export_options;
  CLI::App *run = nullptr, *train = nullptr, *soft = nullptr, *specialists = nullptr,
           *evaluate = nullptr, *list_models = nullptr, *export_model = nullptr;
  CLI::Option* eval_data = nullptr;
};

void add_overrides(CLI::App* cmd, Overrides& overrides) {
  cmd->add_option("--out-dir", overrides.out_dir, "Override out_dir of the config")
      ->check(kNonEmpty);
  cmd->add_option("--data", overrides.data_dir, "Override data.dir of the config")
      ->check(kNonEmpty);
  cmd->add_option("--threads", overrides.threads, "Override threads (0 = LibTorch default)")
      ->check(CLI::Range(0, 512));
  cmd->add_option("--device", overrides.device, "Override device (cpu, cuda, cuda:N)")
      ->check(kNonEmpty);
}

void add_experiment_commands(CommandLine& c) {
  c.run = c.app.add_subcommand(
      "run", "Train (or load) the teacher, train the student from scratch, distil the same "
             "student from the teacher, and write <out_dir>/results.json");
  c.train = c.app.add_subcommand(
      "train", "Train one model of the config on hard labels, into <out_dir>/train-<model>/");
  c.train->add_option("--model", c.which, "Which model of the config: teacher or student")
      ->required()
      ->check(CLI::IsMember({"teacher", "student"}));
  c.soft = c.app.add_subcommand(
      "soft-targets", "Run the teacher once over the transfer set and store its logits "
                      "(default <out_dir>/soft_targets.bin), for `run` to reuse");
  c.soft->add_option("--output", c.output, "File to write")->check(kNonEmpty);
  c.specialists = c.app.add_subcommand(
      "specialists", "Train (or load) the generalist, find class subsets by clustering its "
                     "predictions, train a specialist per subset, and compare the generalist "
                     "with generalist + specialists (Hinton et al. 2015, section 5)");
  for (auto* cmd : {c.run, c.train, c.soft, c.specialists}) {
    cmd->add_option("config", c.config_path, "Experiment JSON file")->required();
    add_overrides(cmd, c.overrides);
  }
}

void add_evaluate_command(CommandLine& c) {
  c.eval.data_dir = "/usr/share/datasets/fashion-mnist";
  auto* cmd = c.app.add_subcommand("evaluate", "Count test (or training) errors of a saved model");
  c.evaluate = cmd;
  cmd->add_option("model", c.model_path, "Model file written by distillery (.pt)")->required();
  c.eval_data = cmd->add_option("--data", c.eval.data_dir, "Directory of the data set's files (IDX or CIFAR binary)")
                    ->capture_default_str()
                    ->check(kNonEmpty);
  cmd->add_option("--dataset", c.eval.dataset,
                  "For model files that do not record their data set (older ones): normalise "
                  "as fashion-mnist (default) or mnist")
      ->check(CLI::IsMember({"fashion-mnist", "mnist"}));
  cmd->add_option("--split", c.eval.split, "Which images: test or train")
      ->capture_default_str()
      ->check(CLI::IsMember({"test", "train"}));
  cmd->add_option("--limit", c.eval.limit, "Only the split's first N images (0 = all)")
      ->capture_default_str()
      ->check(CLI::Range(int64_t{0}, std::numeric_limits<int64_t>::max())
                  .description("NON-NEGATIVE"));
  cmd->add_option("--layout", c.eval.layout,
                  "For .npy images: how the array's dimensions are read (as data.layout)")
      ->capture_default_str()
      ->check(CLI::IsMember({"auto", "nhwc", "nchw", "nhw"}));
  cmd->add_flag("--json", c.eval.as_json, "Print the result as JSON");
}

void add_export_command(CommandLine& c) {
  auto* cmd = c.app.add_subcommand(
      "export", "Write a saved model as an ONNX file for a device: input pixels [N, C, H, W] in "
                "[0, 1] with the normalisation inside, output logits [N, classes]");
  c.export_model = cmd;
  cmd->add_option("model", c.model_path, "Model file written by distillery (.pt)")->required();
  cmd->add_option("--output,-o", c.export_options.output,
                  "ONNX file to write (default: the model file with extension .onnx)")
      ->check(kNonEmpty);
  cmd->add_option("--opset", c.export_options.opset, "ONNX operator set")
      ->capture_default_str()
      ->check(CLI::Range(distillery::min_onnx_opset(), distillery::max_onnx_opset()));
  cmd->add_flag("--json", c.export_options.as_json, "Print what was written as JSON");
}

void add_models_command(CommandLine& c) {
  auto* cmd = c.app.add_subcommand(
      "models", "List the architectures a config's \"model\" can name, with parameters and "
                "multiply-adds per image for an input shape and class count");
  c.list_models = cmd;
  cmd->add_option("--classes", c.models.classes, "Number of output classes")
      ->capture_default_str()
      ->check(CLI::Range(int64_t{1}, int64_t{1000000}));
  cmd->add_option("--input", c.models.input,
                  "Image shape CxHxW (channels x height x width), e.g. 3x32x32 for CIFAR")
      ->capture_default_str();
}

// Runs the chosen subcommand; exceptions become exit codes here and only here.
int dispatch(CommandLine& c) {
  try {
    if (*c.run) return run(c.config_path, c.overrides);
    if (*c.train) return train(c.config_path, c.which, c.overrides);
    if (*c.soft) return soft_targets(c.config_path, c.output, c.overrides);
    if (*c.specialists) return specialists(c.config_path, c.overrides);
    if (*c.list_models) return distillery::tool::print_models(c.models);
    if (*c.export_model) return distillery::tool::export_model(c.model_path, c.export_options);
    if (*c.evaluate) {
      c.eval.data_given = c.eval_data->count() > 0;
      return distillery::tool::evaluate(c.model_path, c.eval);
    }
  } catch (const distillery::ConfigError& e) {
    spdlog::error("{}", e.what());
    return kExitUsage;
  } catch (const c10::Error& e) {
    spdlog::error("{}", e.what_without_backtrace());
    return kExitFailure;
  } catch (const std::exception& e) {
    spdlog::error("{}", e.what());
    return kExitFailure;
  } catch (...) {
    spdlog::error("unexpected error of unknown type");
    return kExitFailure;
  }
  return kExitUsage;
}

}  // namespace

int main(int argc, char** argv) {
  CommandLine c;
  c.app.require_subcommand(1);
  c.app.fallthrough();  // --verbose / --quiet work before or after the subcommand
  c.app.set_version_flag("--version", version_text());
  c.app.add_flag("-v,--verbose", c.verbose, "Log debug messages");
  c.app.add_flag("-q,--quiet", c.quiet, "Log warnings and errors only");
  add_experiment_commands(c);
  add_evaluate_command(c);
  add_models_command(c);
  add_export_command(c);
  // The top level takes flags only, so its first word is the command: name a mistyped one
  // (CLI11 would only say that a subcommand is required).
  for (int i = 1; i < argc; ++i) {
    const std::string word = argv[i];
    if (word.empty() || word[0] == '-') continue;
    const std::function<bool(const CLI::App*)> every = [](const CLI::App*) { return true; };
    const auto commands = std::as_const(c.app).get_subcommands(every);
    if (std::none_of(commands.begin(), commands.end(),
                     [&](const CLI::App* cmd) { return cmd->get_name() == word; })) {
      std::fprintf(stderr, "distillery: unknown command '%s'; the commands are run, train, "
                           "soft-targets, specialists, evaluate, export and models (see --help)\n", word.c_str());
      return kExitUsage;
    }
    break;
  }
  try {
    c.app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int code = c.app.exit(e);  // prints help, or the parse error and a hint
    return code == 0 ? 0 : kExitUsage;
  }
  // Logs and errors go to stderr; stdout carries only the results (tables, --json).
  spdlog::set_default_logger(spdlog::stderr_color_mt("distillery"));
  spdlog::set_level(c.verbose ? spdlog::level::debug
                              : c.quiet ? spdlog::level::warn : spdlog::level::info);
  spdlog::set_pattern("[%H:%M:%S] [%^%l%$] %v");
  // Beyond a file size limit (ulimit -f) a write then fails with EFBIG and a clear message,
  // instead of the signal killing the program.
  std::signal(SIGXFSZ, SIG_IGN);
  return dispatch(c);
}

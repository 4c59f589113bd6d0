#include "distillery/callbacks.h"

#include <spdlog/spdlog.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "distillery/io.h"

namespace distillery {
namespace {

std::string format_duration(double seconds) {
  const auto total = static_cast<long>(seconds + 0.5);
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, "%ld:%02ld", total / 60, total % 60);
  return buffer;
}

double now_seconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

}  // namespace

Evaluate::Evaluate(std::string name, data::Dataset dataset)
    : name_(std::move(name)), dataset_(std::move(dataset)) {
  TORCH_CHECK(dataset_.labeled(), name_, ": the set to evaluate must be labeled");
  TORCH_CHECK(dataset_.size() > 0, name_, ": the set to evaluate is empty");
}

void Evaluate::on_train_begin(const TrainContext& context) { context_ = context; }

void Evaluate::on_evaluate(EpochMetrics& metrics) {
  TORCH_CHECK(!context_.model.is_empty(), "Evaluate(\"", name_,
              "\"): on_evaluate before on_train_begin");
  metrics.evaluations[name_] =
      evaluate(context_.model, dataset_, context_.eval_batch_size, context_.device);
}

ProgressLogger::ProgressLogger(bool interactive) : interactive_(interactive) {}
ProgressLogger::ProgressLogger() : ProgressLogger(::isatty(STDERR_FILENO) == 1) {}

void ProgressLogger::on_batch_end(const BatchProgress& p) {
  if (!interactive_ || spdlog::get_level() > spdlog::level::info) return;
  // Redraw at most ten times a second, and always on the last batch.
  const double now = now_seconds();
  if (p.batch != p.batches && now - last_draw_ < 0.1) return;
  last_draw_ = now;
  std::fprintf(stderr, "\r\033[K%s epoch %lld/%lld batch %lld/%lld  %.0f samples/s  ETA %s",
               p.phase.c_str(), static_cast<long long>(p.epoch), static_cast<long long>(p.epochs),
               static_cast<long long>(p.batch), static_cast<long long>(p.batches),
               p.samples_per_second, format_duration(p.eta_seconds).c_str());
  std::fflush(stderr);
}

void ProgressLogger::on_epoch_end(const EpochMetrics& m) {
  if (interactive_ && spdlog::get_level() <= spdlog::level::info) {
    std::fprintf(stderr, "\r\033[K");
  }
  std::string evaluations;
  for (const auto& [name, e] : m.evaluations) {
    char part[160];
    std::snprintf(part, sizeof part, ", %s errors %lld/%lld (accuracy %.2f%%)", name.c_str(),
                  static_cast<long long>(e.errors), static_cast<long long>(e.examples),
                  100.0 * e.accuracy);
    evaluations += part;
  }
  spdlog::info("{} epoch {}/{}: loss {:.4f}{}, {:.0f} samples/s, {:.1f}s", m.phase, m.epoch,
               m.epochs, m.train_loss, evaluations, m.samples_per_second, m.seconds);
}

MetricsJsonl::MetricsJsonl(std::string path) : path_(std::move(path)) {}

void MetricsJsonl::on_epoch_end(const EpochMetrics& m) {
  nlohmann::json line = {{"phase", m.phase},
                               {"epoch", m.epoch},
                               {"epochs", m.epochs},
                               {"train_loss", m.train_loss},
                               {"learning_rate", m.learning_rate},
                               {"seconds", round_for_json(m.seconds)},
                               {"data_seconds", round_for_json(m.data_seconds)},
                               {"samples_per_second", round_for_json(m.samples_per_second, 1)}};
  for (const auto& [name, e] : m.evaluations) {
    line[name + "_errors"] = e.errors;
    line[name + "_examples"] = e.examples;
    line[name + "_accuracy"] = e.accuracy;
    line[name + "_nll"] = e.nll;
  }
  append_line(path_, line.dump());
}

}  // namespace distillery

#pragma once
// Internal: what the experiment drivers (experiment.cpp, specialists/pipeline.cpp) share:
// staged outputs, building a teacher or generalist from its config, and model reports.
// Not installed; not part of the public API.

#include <torch/nn/modules/container/sequential.h>

#include <memory>
#include <string>
#include <vector>

#include "distillery/config.h"
#include "distillery/experiment.h"
#include "distillery/metrics.h"
#include "distillery/models.h"
#include "distillery/teacher.h"
#include "distillery/trainer.h"

namespace distillery::detail {

using Callbacks = std::vector<std::shared_ptr<Callback>>;

// Outputs are written into <out_dir>/.incomplete and moved into <out_dir> by commit(), so a
// run that fails never replaces the outputs of an earlier, successful one.
class RunOutputs {
 public:
  // Creates (after emptying) the staging directory; throws std::runtime_error if it cannot.
  explicit RunOutputs(std::string out_dir);
  // Where to write `file` now (inside the staging directory).
  std::string path(const std::string& file) const;
  // Where `file` ends up after commit().
  std::string final_path(const std::string& file) const;
  // Moves every staged file into out_dir (results.json last) and removes the staging dir.
  // Files in out_dir whose names start with one of `stale_prefixes` and that this run did not
  // write (e.g. specialist_3.pt of an earlier run with more subsets) are removed first.
  void commit(const std::vector<std::string>& stale_prefixes = {}) const;

 private:
  std::string out_dir_;
  std::string staging_;
};

InputShape shape_of(const data::Dataset& set);
std::string shape_text(InputShape s);

// A teacher with what is needed to report on it and save it.
struct BuiltTeacher {
  Teacher teacher{nullptr};
  std::vector<torch::nn::Sequential> nets;  // the C++ members (for counting and saving)
  std::vector<nlohmann::json> specs;
  bool has_torchscript = false;
  double train_seconds = 0.0;
};

// Trains or loads the teacher `t` (recursively for ensemble members), in eval mode.
BuiltTeacher build_teacher(const TeacherConfig& t, const ExperimentData& d,
                           const std::string& phase, const Callbacks& callbacks);

ModelReport report_for(const EvalResult& test, int64_t parameters, int64_t multiply_adds,
                       double train_seconds);
ModelReport report_for(torch::nn::Sequential& model, const data::Dataset& test,
                       const TrainerOptions& o, double train_seconds);
ModelReport report_for(BuiltTeacher& built, const data::Dataset& test, const TrainerOptions& o);

// Throws ConfigError when the teacher's class count differs from the data's.
void check_teacher_classes(BuiltTeacher& built, const ExperimentData& d, torch::Device device);

// `callbacks` plus a MetricsJsonl writing to `path`.
Callbacks with_metrics_file(const std::string& path, Callbacks callbacks);

}  // namespace distillery::detail

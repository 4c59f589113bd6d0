// Internal: building the teacher (or generalist) of a config: loading files, training, reusing a
// teacher trained earlier from the same recipe, probing it on the data, and saving it.

#include "run_support.h"

#include <spdlog/spdlog.h>
#include <torch/torch.h>

#include <algorithm>
#include <filesystem>
#include <optional>
#include <sstream>
#include <stdexcept>

#include "config_readers.h"
#include "distillery/callbacks.h"
#include "distillery/fingerprint.h"
#include "distillery/app/model_specs.h"
#include "distillery/state_dict.h"

namespace distillery::detail {
namespace {

// The last non-empty line of an error before any C++ backtrace: what a TorchScript error
// says failed ("RuntimeError: mat1 and mat2 shapes cannot be multiplied ..."), without its
// TorchScript traceback; a one-line message is returned whole.
std::string last_line(std::string text) {
  const auto backtrace = text.find("\nException raised from");
  if (backtrace != std::string::npos) text.resize(backtrace);
  const auto end = text.find_last_not_of(" \n");
  if (end == std::string::npos) return text;
  const auto start = text.rfind('\n', end);
  const auto from = start == std::string::npos ? 0 : start + 1;
  return text.substr(from, end - from + 1);
}

// load_torchscript_teacher, whose message about a file of another kind goes on to say under which
// key the config takes it.
Teacher torchscript_teacher(const std::string& path) {
  try {
    return load_torchscript_teacher(path);
  } catch (const ModelFileKindError& e) {
    if (e.kind() == ModelFileKind::kPickle) {
      throw ModelFileKindError(std::string(e.what()) + "; give it as \"weights\" together with "
                               "\"model\" (its architecture), not as \"torchscript\"", e.kind());
    }
    if (e.kind() == ModelFileKind::kDistilleryModel) {
      throw ModelFileKindError(std::string(e.what()) + "; give it as \"checkpoint\", not as "
                               "\"torchscript\"", e.kind());
    }
    throw;
  }
}

bool needs_training(const TeacherConfig& t) { return !t.model.is_null() && t.weights.empty(); }

// The file a teacher comes from, for messages ("" for one trained here).
std::string source_of(const TeacherConfig& t) {
  if (!t.torchscript.empty()) return t.torchscript;
  if (!t.checkpoint.empty()) return t.checkpoint;
  return t.weights;
}

BuiltTeacher from_net(const Model& net, const nlohmann::json& spec, const TeacherConfig& t,
                      const std::string& phase, nlohmann::json recipe = nullptr,
                      bool reused = false) {
  net->to(torch::Device(t.training.device()));
  net->eval();
  BuiltTeacher out;
  out.teacher = Teacher(net);
  out.nets.push_back(net);
  out.specs.push_back(spec);
  out.files.push_back(phase + ".pt");
  out.recipes.push_back(std::move(recipe));
  out.reused.push_back(reused);
  return out;
}

// The teacher saved as `<phase>.pt` in `dir` by an earlier run, if it has this recipe.
std::optional<BuiltTeacher> reusable_teacher(const TeacherConfig& t, const std::string& phase,
                                             const nlohmann::json& recipe, OutputDirectory& dir) {
  const auto path = dir.final_path(phase + ".pt");
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) return std::nullopt;
  try {
    auto saved = load_model(path);
    if (!saved.metadata.is_object() || saved.metadata.value("teacher_recipe", nlohmann::json()) != recipe) {
      spdlog::info("{}: {} was trained from other settings or data; training again", phase, path);
      return std::nullopt;
    }
    dir.protect(path);
    spdlog::info("{}: reusing {}, trained earlier from the same settings and data (remove it to "
                 "train again)", phase, path);
    return from_net(saved.model, saved.spec, t, phase, recipe, /*reused=*/true);
  } catch (const std::exception& e) {
    spdlog::warn("{}: cannot reuse {} ({}); training again", phase, path, e.what());
    return std::nullopt;
  }
}

Model load_checkpoint(const TeacherConfig& t, const ExperimentData& d, const std::string& phase,
                      nlohmann::json& spec) {
  const auto input = shape_of(d.train);
  const int64_t classes = d.train.num_classes;
  auto saved = load_model(t.checkpoint);
  if (saved.num_classes != classes || shape_text(saved.input) != shape_text(input)) {
    throw ConfigError(t.checkpoint + ": the " + phase + " takes " + shape_text(saved.input) +
                      " images and has " + std::to_string(saved.num_classes) +
                      " classes, but the data has " + shape_text(input) + " images and " +
                      std::to_string(classes) + " classes");
  }
  if (saved.info.dataset != "unknown" && !d.train.name.empty() &&
      saved.info.dataset != d.train.name) {
    throw ConfigError(t.checkpoint + ": the " + phase + " was trained on " + saved.info.dataset +
                      " (with its normalisation), but the data is " + d.train.name +
                      "; set data.dataset to \"" + saved.info.dataset + "\" or give a teacher "
                      "trained on " + d.train.name);
  }
  if (saved.metadata.is_object() && saved.metadata.value("kind", "") == "specialist") {
    throw ConfigError(t.checkpoint + ": this is a specialist (classes " +
                      saved.metadata.at("classes").dump() + " + dustbin), not a whole model; "
                      "give the generalist's or another full model's file");
  }
  spec = saved.spec;
  return saved.model;
}

// A teacher given by a file (TorchScript, checkpoint, or architecture + state dict).
BuiltTeacher load_teacher_file(const TeacherConfig& t, const ExperimentData& d,
                               const std::string& phase) {
  BuiltTeacher out;
  if (!t.torchscript.empty()) {
    out.teacher = torchscript_teacher(t.torchscript);
    out.has_torchscript = true;
    spdlog::info("{}: loaded TorchScript {}", phase, t.torchscript);
  } else if (!t.checkpoint.empty()) {
    nlohmann::json spec;
    auto net = load_checkpoint(t, d, phase, spec);
    out = from_net(net, spec, t, phase);
    spdlog::info("{}: loaded {}", phase, t.checkpoint);
  } else {
    torch::manual_seed(t.seed);
    auto net = build_model(t.model, shape_of(d.train), d.train.num_classes, "teacher.model");
    load_state_dict(net.module(), t.weights, t.weights_key);
    out = from_net(net, t.model, t, phase);
    spdlog::info("{}: loaded weights {}", phase, t.weights);
  }
  return out;
}

// A teacher given by a file (TorchScript, checkpoint, or architecture + state dict), probed on
// the data; a file that cannot be read is named with its config key (`key`, e.g. "teacher" or
// "teacher.members[1]").
BuiltTeacher load_teacher(const TeacherConfig& t, const ExperimentData& d,
                          const std::string& phase, const std::string& key) {
  BuiltTeacher out;
  try {
    out = load_teacher_file(t, d, phase);
  } catch (const ConfigError&) {
    throw;
  } catch (const std::runtime_error& e) {
    const char* field = !t.torchscript.empty()  ? ".torchscript: "
                        : !t.checkpoint.empty() ? ".checkpoint: "
                                                : ".weights: ";
    // The core names no config key; the one that takes the entry's name is "weights_key".
    const bool no_state_dict = dynamic_cast<const StateDictNotFoundError*>(&e) != nullptr;
    throw std::runtime_error(key + field + e.what() +
                             (no_state_dict ? " (config key \"weights_key\")" : ""));
  }
  probe_teacher(out.teacher, d, torch::Device(t.training.device()), phase, source_of(t));
  return out;
}

BuiltTeacher train_teacher(const TeacherConfig& t, const ExperimentData& d,
                           const std::string& phase, const Callbacks& callbacks,
                           OutputDirectory* reuse_from) {
  auto recipe = teacher_recipe(t, d.train);
  if (reuse_from) {
    if (auto reused = reusable_teacher(t, phase, recipe, *reuse_from)) return std::move(*reused);
  }
  torch::manual_seed(t.seed);
  auto net = build_model(t.model, shape_of(d.train), d.train.num_classes, "teacher.model");
  spdlog::info("{}: training {} ({} parameters)", phase, t.model.dump(), count_parameters(net.module()));
  const auto seconds = train_supervised(net, d.train,
                                        TrainOptions().trainer(t.training).phase(phase)
                                            .callbacks(callbacks).evaluate_on("test", d.test))
                           .train_seconds;
  auto out = from_net(net, t.model, t, phase, std::move(recipe));
  out.train_seconds = seconds;
  return out;
}

}  // namespace

void probe_teacher(Teacher& teacher, const ExperimentData& d, torch::Device device,
                   const std::string& phase, const std::string& source) {
  constexpr int64_t kProbeImages = 64;
  const auto images = d.train.inputs(0, std::min(kProbeImages, d.train.size()));
  const std::string who = source.empty() ? "the " + phase : source + ": the " + phase;
  torch::Tensor logits;
  try {
    teacher->to(device);
    logits = teacher->forward(images.to(device));
  } catch (const std::exception& e) {
    throw std::runtime_error(who + " cannot run on the data's " + shape_text(shape_of(d.train)) +
                             " images: " + last_line(e.what()));
  }
  if (logits.dim() != 2 || logits.size(0) != images.size(0)) {
    std::ostringstream shape;
    shape << logits.sizes();
    throw ConfigError(who + " returns logits of shape " + shape.str() + " for " +
                      std::to_string(images.size(0)) + " images; it must return [B, classes]");
  }
  if (logits.size(1) != d.train.num_classes) {
    throw ConfigError(who + " has " + std::to_string(logits.size(1)) + " classes but the data "
                      "has " + std::to_string(d.train.num_classes) + "; the teacher must predict "
                      "the data's classes");
  }
  const auto finite = torch::isfinite(logits).all(1);
  if (!finite.all().item<bool>()) {
    throw std::runtime_error(
        who + " gives logits that are not finite (NaN or infinite) for " +
        std::to_string((~finite).sum().item<int64_t>()) + " of the first " +
        std::to_string(images.size(0)) + " training images; the teacher itself is broken (check "
        "its file or how it was trained), not the student's settings");
  }
}

nlohmann::json teacher_recipe(const TeacherConfig& t, const data::Dataset& train) {
  auto tensors = std::vector<torch::Tensor>{train.images};
  if (train.labeled()) tensors.push_back(train.labels);
  if (train.holds_pixels() && train.normalization) {  // the teacher trains on normalised pixels
    const auto channels = train.images.size(1);
    tensors.push_back(torch::tensor(train.normalization->means(channels), torch::kFloat64));
    tensors.push_back(torch::tensor(train.normalization->stds(channels), torch::kFloat64));
  }
  return {{"teacher", teacher_to_json(t)}, {"data", fingerprint_hex(fingerprint_tensors(tensors))}};
}

BuiltTeacher build_teacher(const TeacherConfig& t, const ExperimentData& d,
                           const std::string& phase, const Callbacks& callbacks,
                           OutputDirectory* reuse_from) {
  if (t.members.empty()) {
    return needs_training(t) ? train_teacher(t, d, phase, callbacks, reuse_from)
                             : load_teacher(t, d, phase, phase);
  }
  // Members given by files are loaded and checked first: a bad file is then found before any
  // other member trains for minutes.
  const auto name = [&](std::size_t i) { return phase + "_member_" + std::to_string(i); };
  std::vector<BuiltTeacher> members(t.members.size());
  for (std::size_t i = 0; i < t.members.size(); ++i) {
    if (!needs_training(t.members[i])) {
      members[i] = load_teacher(t.members[i], d, name(i),
                                phase + ".members[" + std::to_string(i) + "]");
    }
  }
  for (std::size_t i = 0; i < t.members.size(); ++i) {
    if (needs_training(t.members[i])) {
      members[i] = train_teacher(t.members[i], d, name(i), callbacks, reuse_from);
    }
  }
  BuiltTeacher out;
  std::vector<Teacher> teachers;
  for (auto& member : members) {
    teachers.push_back(member.teacher);
    out.nets.insert(out.nets.end(), member.nets.begin(), member.nets.end());
    out.specs.insert(out.specs.end(), member.specs.begin(), member.specs.end());
    out.files.insert(out.files.end(), member.files.begin(), member.files.end());
    out.recipes.insert(out.recipes.end(), member.recipes.begin(), member.recipes.end());
    out.reused.insert(out.reused.end(), member.reused.begin(), member.reused.end());
    out.has_torchscript = out.has_torchscript || member.has_torchscript;
    out.train_seconds += member.train_seconds;
  }
  out.teacher = make_ensemble(teachers, t.combine, 1.0);
  return out;
}

void save_teacher(const BuiltTeacher& built, const OutputDirectory& out,
                  const data::Dataset& train) {
  for (std::size_t i = 0; i < built.nets.size(); ++i) {
    if (built.reused[i]) continue;
    const auto metadata = built.recipes[i].is_null()
                              ? nlohmann::json(nullptr)
                              : nlohmann::json{{"teacher_recipe", built.recipes[i]}};
    save_model(out.path(built.files[i]), built.nets[i],
               model_record(built.specs[i], shape_of(train), train.num_classes,
                            model_info_of(train), metadata));
  }
}

}  // namespace distillery::detail

#pragma once
/// @file config.h
/// The JSON experiment schema. One file describes a whole experiment: data, teacher, student,
/// distillation objective and training settings. Unknown keys and wrong types are errors that
/// name the file and the dotted key; defaults live here, in code, once.
///
/// Schema (every key optional unless marked required):
///
///     {
///       "name": "fashion_mnist",            // used in logs and results.json
///       "out_dir": "runs/fashion_mnist",     // outputs; relative to the working directory
///       "seed": 0,                           // seeds weights, batch order and dropout
///       "threads": 0,                        // intra-op CPU threads, 0 = LibTorch default
///       "device": "cpu",                     // "cpu", "cuda", "cuda:N"
///       "data": {"dataset": "fashion-mnist" | "mnist",
///                "dir": "/usr/share/datasets/fashion-mnist",
///                "train_limit": 0, "test_limit": 0},   // 0 = all examples
///       "teacher": {"model": {"architecture": ..., ...},      // required unless checkpoint
///                   "training": {<training>},
///                   "checkpoint": ""},       // a saved teacher to load instead of training
///       "student": {"model": {"architecture": ..., ...},      // required
///                   "training": {<training>}},                // scratch and distilled alike
///       "distillation": {"temperature": 4.0, "alpha": 0.9}
///     }
///
/// `<training>`: `epochs`, `batch_size`, `optimizer`, `learning_rate`, `momentum`,
/// `weight_decay`, `lr_schedule`, `lr_step_epochs`, `lr_gamma`, `eval_batch_size`
/// (see TrainerOptions for meanings and defaults).

#include <nlohmann/json.hpp>

#include <string>

#include "distillery/data/dataset.h"
#include "distillery/json_fields.h"
#include "distillery/losses.h"
#include "distillery/trainer.h"

namespace distillery {

/// Where the images come from.
struct DataConfig {
  /// "fashion-mnist" or "mnist": both are read from IDX files; the name picks the
  /// normalisation.
  std::string dataset = "fashion-mnist";
  /// Directory holding the four IDX files (plain or .gz).
  std::string dir = "/usr/share/datasets/fashion-mnist";
  /// Use only the first N training examples; 0 = all. For quick trials and tests.
  int64_t train_limit = 0;
  /// Use only the first N test examples; 0 = all.
  int64_t test_limit = 0;
};

/// One network of the experiment: its architecture and how it is trained.
struct ModelConfig {
  /// Architecture spec passed to `build_model` (`{"architecture": "mlp", ...}`); may be null
  /// for a teacher loaded from `checkpoint`.
  nlohmann::json model;
  /// Optimiser and loop settings; `seed`, `threads` and `device` come from the top level.
  TrainerOptions training;
  /// Teacher only: a file written by `save_model` to load instead of training. "" = train.
  std::string checkpoint;
};

/// A whole distillation experiment (`distillery run`).
struct ExperimentConfig {
  std::string name = "experiment";
  std::string out_dir = "runs/experiment";
  uint64_t seed = 0;
  int64_t threads = 0;
  std::string device = "cpu";
  DataConfig data;
  ModelConfig teacher;
  ModelConfig student;
  /// Temperature and alpha of the distillation objective (Hinton et al. 2015, §2).
  KDLossOptions distillation;
};

/// Parses and validates an experiment from JSON text. `source` names the text in messages
/// (usually the file path). Throws ConfigError with a message "<source>: <what>", where
/// <what> names the dotted key for unknown keys, wrong types and invalid values, or gives the
/// line and column of malformed JSON.
ExperimentConfig parse_config(const std::string& text, const std::string& source);

/// Reads and parses the file at `path`. Throws ConfigError ("cannot open <path>: ...") if it
/// cannot be read, otherwise as `parse_config`.
ExperimentConfig load_config(const std::string& path);

/// The fully resolved config (every default filled in), in the input schema; saved next to
/// the outputs so a run can be repeated exactly.
nlohmann::json to_json(const ExperimentConfig& config);

}  // namespace distillery

#pragma once
#ifdef DISTILLERY_CORE_ONLY
#error "an application-layer header (distillery::app): the core must not include it"
#endif
/// @file config.h
/// The JSON experiment schema. One file describes a whole experiment: data, teacher, student,
/// distillation objective and training settings. Unknown keys and wrong types are errors that
/// name the file and the dotted key; defaults live here, in code, once.
///
/// Every relative path (out_dir, data.dir, checkpoint, weights, torchscript, soft_targets,
/// subsets) is resolved against the working directory, not the config's folder. A key given
/// twice in one object is an error.
///
/// Schema (every key optional unless marked required):
///
///     {
///       "name": "fashion_mnist",            // used in logs and results.json; a plain name
///                                            //   (no '/', not "." or "..")
///       "out_dir": "runs/fashion_mnist",     // outputs; default runs/<name>
///       "seed": 0,                           // seeds weights, batch order, dropout, jitter
///       "threads": 0,                        // intra-op CPU threads, 0 = LibTorch default
///       "device": "cpu",                     // "cpu", "cuda", "cuda:N"
///       "data": {"dataset": "fashion-mnist",     // or mnist, cifar10, cifar100, cifar100-coarse
///                "dir": "/usr/share/datasets/fashion-mnist",
///                "train_limit": 0, "test_limit": 0,    // 0 = all examples
///                "heldout": 0,               // last N training images held out (not in the
///                                            //   transfer set), for choosing bias shifts
///                "unlabeled": false,         // distil on the soft term only
///                "omit_classes": []},        // classes left out of the transfer set (§3)
///       "teacher": <teacher>,                // required
///       "student": {"model": {"architecture": ..., ...},      // required
///                   "training": {<training>},                 // scratch and distilled alike
///                   "scratch": true},            // false: no hard-label baseline student
///       "distillation": {"temperature": 4.0, "alpha": 0.9,
///                        "soft_targets": "auto",  // "auto": stored in out_dir and reused
///                                                 // when teacher and data match; "online":
///                                                 // run the teacher every step; or a path
///                                                 // to a file from `distillery soft-targets`
///                        "views": 0}              // with augmentation: store the teacher's
///                                                 // logits on K augmented views per image
///                                                 // (0: "auto" runs the teacher online)
///     }
///
/// A specialists experiment (`distillery specialists`, Hinton et al. 2015, §5) has
/// "generalist" and "specialists" instead of (or besides) "teacher", "student" and
/// "distillation":
///
///     "generalist": <teacher>,               // required; not TorchScript, not an ensemble
///     "specialists": {"clusters": 3,         // K-means clusters M of the classes
///                     "restarts": 10,        // k-means++ starts, the most compact kept
///                     "kmeans_iterations": 300,  // Lloyd iterations per start
///                     "min_subset_size": 2,  // smaller clusters get no specialist
///                     "standardize": true,   // cluster the correlation matrix (see
///                                            //   ClusteringOptions); false: the covariance
///                     "subsets": [[0, 2, 4, 6], [5, 7, 9]],  // by hand (or a path to a
///                                            //   subsets JSON file) instead of clustering:
///                                            //   give "clusters" or "subsets", not both
///                     "cluster_on": "heldout" | "train",  // the generalist's predictions on
///                                            //   these images give the covariance; default
///                                            //   "heldout" when data.heldout > 0
///                     "training": {<training>},  // each specialist's fine-tuning
///                     "temperature": 2.0, "alpha": 0.5,  // kd_loss against the generalist
///                     "soft_target_prior": "sampled" | "natural",  // see SoftTargetPrior
///                     "top_n": 1,            // generalist's top-n classes pick the specialists
///                     "method": "multiplicative" | "gradient",  // how F is minimised
///                     "max_iterations": 200, "tolerance": 1e-7}
///
/// `<teacher>` is exactly one of
///     {"model": {...}, "training": {...}, "seed": S}  // trained here (seed defaults to the top)
///     {"model": {...}, "weights": "state_dict.pt",    // PyTorch state dict saved in Python
///      "weights_key": "state_dict"}                  //   (optional: the entry holding it)
///     {"checkpoint": "teacher.pt"}                    // a file written by distillery
///     {"torchscript": "teacher.ts"}                   // a TorchScript model
///     {"members": [<teacher>, ...], "combine": "arithmetic" | "geometric"}  // an ensemble
///
/// `<training>`: the fields of `visit_fields(TrainerOptions)` (trainer.h), listed with their
/// defaults and bounds by `training_schema()` and in docs/config.md.

#include <nlohmann/json.hpp>

#include <optional>
#include <string>
#include <vector>

#include "distillery/data/dataset.h"
#include "distillery/app/json_fields.h"
#include "distillery/losses.h"
#include "distillery/specialists/clustering.h"
#include "distillery/specialists/inference.h"
#include "distillery/specialists/training.h"
#include "distillery/teacher.h"
#include "distillery/trainer.h"

namespace distillery {

/// The data set names a config's data.dataset takes, for messages.
inline constexpr const char* kDatasetNames =
    "fashion-mnist, mnist, cifar10, cifar100, cifar100-coarse, image-folder, npy";

/// The number of classes of the data set named `dataset` (data.dataset): 10 for fashion-mnist,
/// mnist and cifar10, 100 for cifar100, 20 for cifar100-coarse (CIFAR-100's superclasses), 0
/// for image-folder and npy (known once the data is read: the class folders, the labels).
/// Throws std::invalid_argument naming the value and the known names otherwise.
int64_t dataset_classes(const std::string& dataset);

/// Where the images come from.
struct DataConfig {
  /// One of kDatasetNames: "fashion-mnist" and "mnist" are read from IDX files,
  /// "cifar10", "cifar100" and "cifar100-coarse" from the CIFAR binary files
  /// (`scripts/fetch_data.sh cifar10|cifar100`), each with its standard normalisation;
  /// "image-folder" from `<dir>/train/<class>/*.png|jpg|jpeg|bmp` and `<dir>/test/<class>/...`,
  /// "npy" from `<dir>/{train,test}_{images,labels}.npy`, both normalised as measured on the
  /// training images (see load_dataset_split, experiment_data.h).
  std::string dataset = "fashion-mnist";
  /// Directory holding the data set's files (the four IDX files, plain or .gz; the CIFAR
  /// binary files, directly or in the folder their archive unpacks to; the train/ and test/
  /// class folders; the .npy files).
  std::string dir = "/usr/share/datasets/fashion-mnist";
  /// image-folder only: `{height, width}` in pixels that every image has, or is resized to with
  /// `resize`; empty = the size of the first training image.
  std::vector<int64_t> image_size;
  /// image-folder only: resize every image to `image_size` (needs it) instead of refusing an
  /// image of another size.
  bool resize = false;
  /// image-folder only: read one gray channel instead of three RGB channels.
  bool grayscale = false;
  /// npy only: how the images arrays' dimensions are read: "auto" (from the shape), "nhwc",
  /// "nchw" or "nhw" (data::NpyLayout).
  std::string layout = "auto";
  /// Use only the first N training examples; 0 = all. For quick trials and tests.
  int64_t train_limit = 0;
  /// Use only the first N test examples; 0 = all.
  int64_t test_limit = 0;
  /// Hold out the last N training examples (after `train_limit`): they are in no training
  /// or transfer set and serve to choose bias shifts (§3). 0 = none.
  int64_t heldout = 0;
  /// Distil without hard labels (the soft term alone, Hinton et al. 2015, §2).
  bool unlabeled = false;
  /// Classes removed from the transfer set (Hinton et al. 2015, §3, "omitting all examples
  /// of the digit 3"); each in [0, 10).
  std::vector<int64_t> omit_classes;
};

/// Where the teacher comes from: exactly one of the sources below (see the schema above).
struct TeacherConfig {
  /// Architecture spec (`{"architecture": "convnet", ...}`) to train, or to load `weights`
  /// into; null otherwise.
  nlohmann::json model;
  /// How a teacher from `model` is trained (ignored with `weights`).
  TrainerOptions training;
  /// Seed of a trained teacher's initial weights and batch order.
  uint64_t seed = 0;
  /// A PyTorch state dict (Python `torch.save(model.state_dict())`) to load into `model`.
  std::string weights;
  /// The entry of `weights` that holds the state dict (e.g. "state_dict" in a training
  /// checkpoint); empty = detected (see load_state_dict).
  std::string weights_key;
  /// A file written by `save_model`.
  std::string checkpoint;
  /// A TorchScript teacher.
  std::string torchscript;
  /// Ensemble members (each a teacher config without members); empty for one teacher.
  std::vector<TeacherConfig> members;
  /// How ensemble members are combined.
  EnsembleMode combine = EnsembleMode::kArithmetic;
};

/// The student: its architecture and how it is trained (from scratch and distilled alike).
struct StudentConfig {
  /// Architecture spec passed to `build_model`.
  nlohmann::json model;
  /// Optimiser and loop settings; `seed`, `threads` and `device` come from the top level.
  TrainerOptions training;
  /// Whether `distillery run` also trains the student from scratch on hard labels (the
  /// baseline); false skips it, e.g. in a temperature sweep that shares one baseline.
  bool scratch = true;
};

/// How the soft targets of a distillation are obtained (the config's
/// `distillation.soft_targets`).
enum class SoftTargetsMode {
  /// "auto": stored in out_dir and reused when teacher and data match; the teacher runs online
  /// when the transfer set is jittered.
  kAuto,
  /// "online": the teacher runs on every batch.
  kOnline,
  /// A path: a file written by `distillery soft-targets` (any other string).
  kFile,
};
/// The name table of SoftTargetsMode: "auto", "online" (a file is given by its path).
const EnumNames<SoftTargetsMode>& soft_targets_mode_names();

/// `distillation.soft_targets`: a mode, and the file for kFile.
struct SoftTargetsSource {
  /// How they are obtained.
  SoftTargetsMode mode = SoftTargetsMode::kAuto;
  /// The file of stored soft targets (kFile only; empty otherwise).
  std::string path;
  /// Whether the soft targets are read from `path`.
  bool is_file() const { return mode == SoftTargetsMode::kFile; }
  /// "auto", "online", or the path.
  std::string to_string() const;
  /// "auto" and "online" are those modes; any other non-empty text is a path.
  /// Throws ConfigError when `text` is empty.
  static SoftTargetsSource parse(const std::string& text);
};

/// Distillation settings (Hinton et al. 2015, §2).
struct DistillationConfig {
  /// Temperature and alpha of the objective.
  KDLossOptions loss;
  /// Where the soft targets come from (see the schema above).
  SoftTargetsSource soft_targets;
  /// Augmented views stored per example ("views"): with an augmentation in
  /// student.training, "auto" and `distillery soft-targets` store the teacher's logits on this
  /// many views of each image, replayed for the student (soft_targets.h); 0 = none ("auto"
  /// then runs the teacher online for augmented images).
  int64_t views = 0;
};

/// Whose generalist predictions give the covariance the specialists' classes are clustered on.
enum class ClusterOn {
  kHeldout,  ///< "heldout": the held-out training images (data.heldout)
  kTrain,    ///< "train": the training images
};
/// The name table of ClusterOn: "heldout", "train".
const EnumNames<ClusterOn>& cluster_on_names();

/// Specialists on top of a generalist (Hinton et al. 2015, §5; see the schema above).
struct SpecialistsConfig {
  /// The generalist: trained here, or loaded from a checkpoint or state dict (its weights
  /// initialise the specialists, so it must be a distillery architecture).
  TeacherConfig generalist;
  /// K-means settings (the seed is the experiment's).
  specialists::ClusteringOptions clustering;
  /// Subsets given by hand (inline or read from `subsets_file`); empty = found by clustering.
  specialists::ClassSubsets subsets;
  /// The file the hand-given subsets came from, if any (kept for the resolved config).
  std::string subsets_file;
  /// "heldout" or "train": whose generalist predictions give the covariance.
  ClusterOn cluster_on = ClusterOn::kTrain;
  /// Each specialist's training (fine-tuning from the generalist's weights). Defaults:
  /// 5 epochs, Adam at 5e-4, cosine (README, "Specialists", says why).
  TrainerOptions training = TrainerOptions().epochs(5).learning_rate(5e-4);
  /// Temperature and alpha of `kd_loss` against the generalist's reduced soft targets.
  KDLossOptions loss = KDLossOptions().temperature(2.0).alpha(0.5);
  /// The class prior of those soft targets (see SoftTargetPrior).
  specialists::SoftTargetPrior soft_target_prior = specialists::SoftTargetPrior::kSampled;
  /// Test-time combination.
  specialists::CombineOptions inference;
};

/// A whole distillation experiment (`distillery run`), or a specialists experiment
/// (`distillery specialists`).
struct ExperimentConfig {
  std::string name = "experiment";
  std::string out_dir = "runs/experiment";
  uint64_t seed = 0;
  int64_t threads = 0;
  std::string device = "cpu";
  DataConfig data;
  TeacherConfig teacher;
  StudentConfig student;
  DistillationConfig distillation;
  /// Whether "teacher" and "student" were given (always, unless "specialists" is).
  bool has_distillation = true;
  /// Present when the file has a "specialists" section.
  std::optional<SpecialistsConfig> specialists;
  /// The file the config was read from (set by `load_config`; empty for `parse_config`). Not
  /// part of the schema: a run protects it from being replaced by its resolved config.json.
  std::string config_file;
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

/// The documented schema of a "training" section, one Markdown line per field of the
/// TrainerOptions table (`visit_fields`): "- `name`: description (default D; bounds)". It is
/// the "training" part of docs/config.md, which a test keeps equal to it.
std::string training_schema();

/// The documented schema of the K-means and combination keys of a "specialists" section, from
/// the tables of ClusteringOptions and CombineOptions, in the format of `training_schema`; the
/// "specialists" part of docs/config.md.
std::string specialists_schema();

}  // namespace distillery

#pragma once
#ifdef DISTILLERY_CORE_ONLY
#error "an application-layer header (distillery::app): the core must not include it"
#endif
// Internal: the readers and writers of config sections that src/app/config.cpp,
// config_data.cpp and config_specialists.cpp share. Not installed; not part of the public API.

#include <nlohmann/json.hpp>

#include <string>

#include "distillery/app/config.h"
#include "distillery/app/json_fields.h"

namespace distillery::detail {

// Both IDX data sets (MNIST, Fashion-MNIST) have 10 classes.
inline constexpr int64_t kClasses = 10;

// The `<training>` object at `key` of `parent`, over `defaults`; validated.
TrainerOptions read_training(ObjectReader& parent, const std::string& key,
                             const TrainerOptions& defaults = TrainerOptions());
nlohmann::json training_to_json(const TrainerOptions& options);

// A `<teacher>` object at dotted `path`; `seed` is the default seed of a trained teacher.
TeacherConfig read_teacher(const nlohmann::json& json, const std::string& path, uint64_t seed,
                           bool allow_members);
nlohmann::json teacher_to_json(const TeacherConfig& teacher);

// Throws ConfigError "<key>: must not be empty ..." for an empty path, or one holding a NUL.
void check_path(const std::string& key, const std::string& path);
// check_path, and refuses the root directory as out_dir.
void check_out_dir(const std::string& out_dir);

// Throws ConfigError "<section>.temperature: ..." / "<section>.alpha: ..." when out of range.
void check_temperature_and_alpha(const KDLossOptions& loss, const std::string& section);

// An integer option of `r` that must lie in [low, high].
int64_t read_bounded(ObjectReader& r, const std::string& key, int64_t fallback, int64_t low,
                     int64_t high);

// The "data" section (config_data.cpp), validated; and its JSON.
DataConfig read_data(ObjectReader& root);
nlohmann::json data_to_json(const DataConfig& config);

// The "generalist" and "specialists" sections.
SpecialistsConfig read_specialists(ObjectReader& root, const DataConfig& data, uint64_t seed);
nlohmann::json specialists_to_json(const SpecialistsConfig& config);

}  // namespace distillery::detail

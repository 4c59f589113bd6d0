#pragma once
#ifdef DISTILLERY_CORE_ONLY
#error "an application-layer header (distillery::app): the core must not include it"
#endif
/// @file app/specialists/class_subsets.h
/// Class subsets given in a config ("specialists.subsets", Hinton et al. 2015, §5) as JSON
/// values. The core reads and writes subsets files itself (specialists/clustering.h).

#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>

#include "distillery/specialists/clustering.h"

namespace distillery::specialists {

/// Reads subsets from a JSON value: an array of arrays of class indices, or an object holding
/// one under "subsets" (the file `save_class_subsets` writes; its "num_classes", when present,
/// must equal `num_classes`). `where` names the value in messages.
/// Example: `class_subsets_from_json(nlohmann::json::parse("[[9, 5, 7], [6, 0]]"), 10, "subsets")`
/// gives {{0, 6}, {5, 7, 9}}.
/// Throws std::invalid_argument "<where>: ..." on a wrong shape or type, or as
/// `validate_class_subsets`. The result is normalized.
ClassSubsets class_subsets_from_json(const nlohmann::json& json, int64_t num_classes,
                                     const std::string& where);

}  // namespace distillery::specialists

#pragma once
#ifdef DISTILLERY_CORE_ONLY
#error "an application-layer header (distillery::app): the core must not include it"
#endif
/// @file json_fields.h
/// Strict reading of JSON objects into options structs: every key is either read or reported
/// as unknown, and a wrong type names the key. Shared by the config and the model registry.

#include <nlohmann/json.hpp>

#include <limits>
#include <set>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <vector>

#include "distillery/io.h"  // round_for_json

namespace distillery {

/// The JSON text of `value`, cut to about 60 characters for error messages.
std::string short_dump(const nlohmann::json& value);

/// Thrown for a configuration value that is missing, unknown, of the wrong type or out of
/// range. `what()` starts with the dotted key path, e.g.
/// `"student.model.hidden: expected an array of integers, got string"`.
class ConfigError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// Parses JSON text strictly: malformed JSON names the line and column, nesting deeper than 64
/// levels is refused before parsing (the parser would otherwise recurse without bound), and a
/// key given twice in one object is an error naming its dotted path (nlohmann's parser would
/// silently keep the last value). `source` (usually the file path) starts every message.
/// Throws ConfigError, e.g. `"exp.json: student.training.epochs: key given twice"` or
/// `"exp.json: malformed JSON at line 3, column 7: ..."`.
nlohmann::json parse_json_strict(const std::string& text, const std::string& source);

/// Reads the fields of one JSON object, remembering which keys were used.
/// Example:
///     ObjectReader r(json, "student.model");
///     opts.dropout = r.get("dropout", 0.0);
///     r.finish();  // throws ConfigError if json holds a key nobody read
class ObjectReader {
 public:
  /// @param object a JSON object; @param path its dotted location, for messages ("" = root).
  /// Throws ConfigError if `object` is not an object.
  ObjectReader(const nlohmann::json& object, std::string path);

  /// The value at `key` converted to T, or `fallback` when the key is absent.
  /// Throws ConfigError "<path>.<key>: expected <type>, got <json type>" on a wrong type.
  template <typename T>
  T get(const std::string& key, const T& fallback) {
    used_.insert(key);
    if (!object_.contains(key)) return fallback;
    return convert<T>(key);
  }

  /// The value at `key` converted to T. Throws ConfigError if it is absent or mistyped.
  template <typename T>
  T require(const std::string& key) {
    used_.insert(key);
    if (!object_.contains(key)) throw ConfigError(where(key) + ": required key is missing");
    return convert<T>(key);
  }

  /// Whether `key` is present (marks it as used).
  bool has(const std::string& key);
  /// The sub-object at `key` (an empty object when absent), for a nested ObjectReader.
  const nlohmann::json& object(const std::string& key);
  /// Dotted path of `key` below this object, e.g. "student.model.dropout".
  std::string where(const std::string& key) const;
  /// Throws ConfigError naming the first key that was never read, and listing the known keys.
  void finish() const;

 private:
  template <typename T>
  T convert(const std::string& key) const {
    const auto& value = object_.at(key);
    bool ok = false;
    const char* expected = "";
    if constexpr (std::is_same_v<T, bool>) {
      ok = value.is_boolean();
      expected = "a boolean";
    } else if constexpr (std::is_integral_v<T>) {
      ok = value.is_number_integer();
      expected = "an integer";
      if (ok && value.is_number_unsigned() &&
          value.template get<uint64_t>() > static_cast<uint64_t>(std::numeric_limits<T>::max())) {
        out_of_range(key, value);
      }
    } else if constexpr (std::is_floating_point_v<T>) {
      ok = value.is_number();
      expected = "a number";
    } else if constexpr (std::is_same_v<T, std::string>) {
      ok = value.is_string();
      expected = "a string";
    } else if constexpr (std::is_same_v<T, std::vector<int64_t>>) {
      ok = value.is_array();
      for (const auto& element : value) ok = ok && element.is_number_integer();
      expected = "an array of integers";
    } else {
      static_assert(sizeof(T) == 0, "ObjectReader: unsupported field type");
    }
    if (!ok) wrong_type(key, value, expected);
    return value.get<T>();
  }
  [[noreturn]] void out_of_range(const std::string& key, const nlohmann::json& value) const;
  [[noreturn]] void wrong_type(const std::string& key, const nlohmann::json& value,
                               const char* expected) const;

  const nlohmann::json& object_;
  std::string path_;
  std::set<std::string> used_;
};

}  // namespace distillery

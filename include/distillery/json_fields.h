#pragma once
/// @file json_fields.h
/// Strict reading of JSON objects into options structs: every key is either read or reported
/// as unknown, and a wrong type names the key. Shared by the config and the model registry.

#include <nlohmann/json.hpp>

#include <set>
#include <stdexcept>
#include <string>
#include <vector>

namespace distillery {

/// Thrown for a configuration value that is missing, unknown, of the wrong type or out of
/// range. `what()` starts with the dotted key path, e.g.
/// `"student.model.hidden: expected an array of integers, got string"`.
class ConfigError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

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
    check_type(key, value, type_name<T>());
    return value.get<T>();
  }
  template <typename T>
  static const char* type_name();
  void check_type(const std::string& key, const nlohmann::json& value, const char* type) const;

  const nlohmann::json& object_;
  std::string path_;
  std::set<std::string> used_;
};

template <> inline const char* ObjectReader::type_name<bool>() { return "a boolean"; }
template <> inline const char* ObjectReader::type_name<int64_t>() { return "an integer"; }
template <> inline const char* ObjectReader::type_name<double>() { return "a number"; }
template <> inline const char* ObjectReader::type_name<std::string>() { return "a string"; }
template <> inline const char* ObjectReader::type_name<std::vector<int64_t>>() {
  return "an array of integers";
}

}  // namespace distillery

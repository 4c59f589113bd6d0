#pragma once
// Internal to the application layer: an options struct's field table (option_fields.h) read
// from and written to JSON, and spelled out as the documented schema.

#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>
#include <vector>

#include "distillery/app/json_fields.h"
#include "distillery/option_fields.h"

namespace distillery::detail {

// The enum value `key` of `reader` names, `fallback` when absent. Throws ConfigError
// "<object>.<key>: must be <choices>, got "<text>"" for a name outside the table.
template <typename E>
E read_choice(ObjectReader& reader, const std::string& key, const EnumNames<E>& names,
              E fallback) {
  const auto text = reader.get(key, names.name(fallback));
  const auto found = names.find(text);
  if (!found) {
    throw ConfigError(reader.where(key) + ": must be " + names.choices() + ", got \"" + text +
                      "\"");
  }
  return *found;
}

// Reads every field of the table that the object holds; the others keep their value. A name
// that is not one of an enum's throws ConfigError "<object>.<name>: must be <choices>, got ...".
class JsonFieldReader {
 public:
  explicit JsonFieldReader(ObjectReader& reader) : reader_(reader) {}
  template <typename T>
  void number(const char* name, T& value, const Bounds& /*bounds*/, const char* /*description*/) {
    value = reader_.get(name, value);
  }
  void flag(const char* name, bool& value, const char* /*description*/) {
    value = reader_.get(name, value);
  }
  template <typename E>
  void choice(const char* name, E& value, const EnumNames<E>& names, const char* /*description*/) {
    value = read_choice(reader_, name, names, value);
  }
  void numbers(const char* name, std::vector<int64_t>& values, const Bounds& /*bounds*/,
               const char* /*description*/) {
    values = reader_.get(name, values);
  }

 private:
  ObjectReader& reader_;
};

// Checks every number of the table against its bounds. Throws ConfigError
// "<object>.<name>: must be <bounds>, got <value>".
class JsonBoundsChecker {
 public:
  explicit JsonBoundsChecker(const ObjectReader& reader) : reader_(reader) {}
  template <typename T>
  void number(const char* name, const T& value, const Bounds& bounds, const char* /*desc*/) {
    if (!bounds.contains(static_cast<double>(value))) {
      throw ConfigError(reader_.where(name) + ": must be " + bounds.describe() + ", got " +
                        nlohmann::json(value).dump());
    }
  }
  void flag(const char* /*name*/, const bool& /*value*/, const char* /*description*/) {}
  template <typename E>
  void choice(const char* /*name*/, const E& /*value*/, const EnumNames<E>& /*names*/,
              const char* /*description*/) {}
  void numbers(const char* name, const std::vector<int64_t>& values, const Bounds& bounds,
               const char* /*description*/) {
    for (const auto value : values) {
      if (!bounds.contains(static_cast<double>(value))) {
        throw ConfigError(reader_.where(name) + ": entries must be " + bounds.describe() +
                          ", got " + nlohmann::json(value).dump());
      }
    }
  }

 private:
  const ObjectReader& reader_;
};

// Reads the fields of `options`' table from `reader` and checks them against their bounds.
template <typename Options>
void read_fields(ObjectReader& reader, Options& options) {
  JsonFieldReader fields(reader);
  visit_fields(options, fields);
  JsonBoundsChecker bounds(reader);
  visit_fields(options, bounds);
}

// Writes every field of the table under its name (enums by their names).
class JsonFieldWriter {
 public:
  explicit JsonFieldWriter(nlohmann::json& out) : out_(out) {}
  template <typename T>
  void number(const char* name, const T& value, const Bounds& /*bounds*/, const char* /*desc*/) {
    out_[name] = value;
  }
  void flag(const char* name, const bool& value, const char* /*description*/) {
    out_[name] = value;
  }
  template <typename E>
  void choice(const char* name, const E& value, const EnumNames<E>& names, const char* /*d*/) {
    out_[name] = names.name(value);
  }
  void numbers(const char* name, const std::vector<int64_t>& values, const Bounds& /*bounds*/,
               const char* /*description*/) {
    out_[name] = values;
  }

 private:
  nlohmann::json& out_;
};

// One line per field for the documented schema: `name`: description (default, bounds).
class SchemaWriter {
 public:
  template <typename T>
  void number(const char* name, const T& value, const Bounds& bounds, const char* description) {
    add(name, description, nlohmann::json(value).dump() + "; " + bounds.describe());
  }
  void flag(const char* name, const bool& value, const char* description) {
    add(name, description, value ? "true" : "false");
  }
  template <typename E>
  void choice(const char* name, const E& value, const EnumNames<E>& names,
              const char* description) {
    add(name, description, "\"" + names.name(value) + "\"; " + names.choices());
  }
  void numbers(const char* name, const std::vector<int64_t>& values, const Bounds& bounds,
               const char* description) {
    add(name, description, nlohmann::json(values).dump() + "; each " + bounds.describe());
  }
  const std::string& text() const { return text_; }

 private:
  void add(const char* name, const char* description, const std::string& detail) {
    text_ += std::string("- `") + name + "`: " + description + " (default " + detail + ")\n";
  }
  std::string text_;
};

}  // namespace distillery::detail

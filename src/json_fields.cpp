#include "distillery/json_fields.h"

#include <cstring>

namespace distillery {

ObjectReader::ObjectReader(const nlohmann::json& object, std::string path)
    : object_(object), path_(std::move(path)) {
  if (!object_.is_object()) {
    throw ConfigError((path_.empty() ? std::string("the top level") : path_) +
                      ": expected a JSON object, got " + object_.type_name());
  }
}

bool ObjectReader::has(const std::string& key) {
  used_.insert(key);
  return object_.contains(key);
}

const nlohmann::json& ObjectReader::object(const std::string& key) {
  static const nlohmann::json kEmpty = nlohmann::json::object();
  used_.insert(key);
  if (!object_.contains(key)) return kEmpty;
  const auto& value = object_.at(key);
  if (!value.is_object()) {
    throw ConfigError(where(key) + ": expected a JSON object, got " + value.type_name());
  }
  return value;
}

std::string ObjectReader::where(const std::string& key) const {
  return path_.empty() ? key : path_ + "." + key;
}

void ObjectReader::finish() const {
  for (const auto& item : object_.items()) {
    if (used_.count(item.key()) == 0) {
      std::string known;
      for (const auto& k : used_) known += (known.empty() ? "" : ", ") + k;
      throw ConfigError(where(item.key()) + ": unknown key (known keys here: " + known + ")");
    }
  }
}

void ObjectReader::check_type(const std::string& key, const nlohmann::json& value,
                              const char* type) const {
  bool ok = false;
  if (std::strcmp(type, "a boolean") == 0) {
    ok = value.is_boolean();
  } else if (std::strcmp(type, "an integer") == 0) {
    ok = value.is_number_integer();
  } else if (std::strcmp(type, "a number") == 0) {
    ok = value.is_number();
  } else if (std::strcmp(type, "a string") == 0) {
    ok = value.is_string();
  } else if (std::strcmp(type, "an array of integers") == 0) {
    ok = value.is_array();
    for (const auto& element : value) ok = ok && element.is_number_integer();
  }
  if (!ok) {
    throw ConfigError(where(key) + ": expected " + type + ", got " + value.type_name() + " (" +
                      value.dump() + ")");
  }
}

}  // namespace distillery

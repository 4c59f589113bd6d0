#include "distillery/json_fields.h"

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

std::string short_dump(const nlohmann::json& value) {
  std::string text = value.dump();
  constexpr std::size_t kMax = 60;
  if (text.size() > kMax) text = text.substr(0, kMax) + "...";
  return text;
}

void ObjectReader::out_of_range(const std::string& key, const nlohmann::json& value) const {
  throw ConfigError(where(key) + ": " + short_dump(value) + " is out of range for an integer");
}

void ObjectReader::wrong_type(const std::string& key, const nlohmann::json& value,
                              const char* expected) const {
  throw ConfigError(where(key) + ": expected " + expected + ", got " + value.type_name() + " (" +
                    short_dump(value) + ")");
}

}  // namespace distillery

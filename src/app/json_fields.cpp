#include "distillery/app/json_fields.h"

#include <cmath>
#include <functional>

namespace distillery {
namespace {

constexpr int kMaxNesting = 64;

// The nlohmann parser nests without bound; refuse absurd nesting before parsing.
void check_nesting(const std::string& text, const std::string& source) {
  int depth = 0, line = 1;
  bool in_string = false, escaped = false;
  for (const char c : text) {
    if (c == '\n') ++line;
    if (in_string) {
      if (escaped) escaped = false;
      else if (c == '\\') escaped = true;
      else if (c == '"') in_string = false;
      continue;
    }
    if (c == '"') in_string = true;
    if (c == '[' || c == '{') {
      if (++depth > kMaxNesting) {
        throw ConfigError(source + ": JSON nested deeper than " + std::to_string(kMaxNesting) +
                          " levels at line " + std::to_string(line));
      }
    }
    if (c == ']' || c == '}') --depth;
  }
}

std::pair<int, int> line_and_column(const std::string& text, std::size_t byte) {
  int line = 1, column = 1;
  for (std::size_t i = 0; i < std::min(byte, text.size()); ++i) {
    if (text[i] == '\n') {
      ++line;
      column = 1;
    } else {
      ++column;
    }
  }
  return {line, column};
}

// Rejects a key given twice in one object, naming its dotted path. Called by the parser for
// every event, with `depth` the nesting of the value being parsed.
class DuplicateKeys {
 public:
  bool operator()(int /*depth*/, nlohmann::json::parse_event_t event, nlohmann::json& parsed) {
    using Event = nlohmann::json::parse_event_t;
    const bool starts = event == Event::object_start || event == Event::array_start;
    // A value or a container starting inside an array is its next element.
    if ((starts || event == Event::value) && !frames_.empty() && frames_.back().array) {
      ++frames_.back().index;
    }
    if (starts) {
      Frame frame{event == Event::array_start, {}, "", -1, ""};
      if (!frames_.empty()) {
        const auto& parent = frames_.back();
        frame.path = parent.array ? parent.path + "[" + std::to_string(parent.index) + "]"
                                  : join(parent.path, parent.last_key);
      }
      frames_.push_back(std::move(frame));
    } else if (event == Event::key) {
      auto& frame = frames_.back();
      const auto key = parsed.get<std::string>();
      if (!frame.keys.insert(key).second) {
        throw ConfigError(join(frame.path, key) + ": key given twice; keep one");
      }
      frame.last_key = key;
    } else if (event == Event::object_end || event == Event::array_end) {
      frames_.pop_back();
    }
    return true;
  }

 private:
  struct Frame {
    bool array;
    std::set<std::string> keys;
    std::string path;
    int64_t index;
    std::string last_key;
  };
  static std::string join(const std::string& path, const std::string& key) {
    return path.empty() ? key : path + "." + key;
  }
  std::vector<Frame> frames_;
};

}  // namespace

nlohmann::json parse_json_strict(const std::string& text, const std::string& source) {
  check_nesting(text, source);
  DuplicateKeys duplicates;
  try {
    return nlohmann::json::parse(text, std::ref(duplicates));
  } catch (const ConfigError& e) {
    throw ConfigError(source + ": " + e.what());
  } catch (const nlohmann::json::parse_error& e) {
    const auto [line, column] = line_and_column(text, e.byte == 0 ? 0 : e.byte - 1);
    throw ConfigError(source + ": malformed JSON at line " + std::to_string(line) +
                      ", column " + std::to_string(column) + ": " + e.what());
  } catch (const nlohmann::json::exception& e) {
    throw ConfigError(source + ": unreadable JSON (" + e.what() +
                      "); numbers must fit in a 64-bit integer or double");
  }
}

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

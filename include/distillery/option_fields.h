#pragma once
/// @file option_fields.h
/// Each options struct's fields declared once. A struct's field table is a function
/// `visit_fields(options, visitor)` that names every field with its bounds or choices and a
/// one-line description; the core checks options with it (`check_fields`), and the application
/// layer reads and writes JSON and writes the documented schema from the same table, so adding
/// an option is one line in its struct and one in its table.
///
/// A visitor has three members, called once per field in the table's order, with a reference
/// to the field (const when the options are):
///     void number(const char* name, T& value, const Bounds& bounds, const char* description);
///     void flag(const char* name, bool& value, const char* description);
///     void choice(const char* name, E& value, const EnumNames<E>& names, const char* description);
///     void numbers(const char* name, std::vector<int64_t>& values, const Bounds& bounds,
///                  const char* description);  // a list; each entry inside the bounds
/// where T is int64_t or double and E an enum.

#include <c10/util/Exception.h>

#include <cmath>
#include <cstdint>
#include <optional>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

namespace distillery {

/// The interval a numeric option must lie in; every bound is optional and closed or open.
/// Values must also be finite (no NaN, no infinity).
struct Bounds {
  std::optional<double> min;  ///< lower bound, if any
  std::optional<double> max;  ///< upper bound, if any
  bool min_open = false;      ///< min itself excluded
  bool max_open = false;      ///< max itself excluded

  /// `>= low`.
  static Bounds at_least(double low) { return {low, std::nullopt, false, false}; }
  /// `> low`.
  static Bounds above(double low) { return {low, std::nullopt, true, false}; }
  /// `[low, high]`.
  static Bounds closed(double low, double high) { return {low, high, false, false}; }
  /// `[low, high)`.
  static Bounds closed_open(double low, double high) { return {low, high, false, true}; }
  /// `(low, high]`.
  static Bounds open_closed(double low, double high) { return {low, high, true, false}; }
  /// `(low, high)`.
  static Bounds open(double low, double high) { return {low, high, true, true}; }

  /// Whether `value` is finite and inside.
  bool contains(double value) const {
    if (!std::isfinite(value)) return false;
    if (min && (min_open ? !(value > *min) : !(value >= *min))) return false;
    if (max && (max_open ? !(value < *max) : !(value <= *max))) return false;
    return true;
  }

  /// How the bounds read in a message: "in [1, 1000000]", "in [0, 1)", ">= 0", "> 0".
  std::string describe() const {
    std::ostringstream out;
    if (min && max) {
      out << "in " << (min_open ? "(" : "[") << spell(*min) << ", " << spell(*max)
          << (max_open ? ")" : "]");
    } else if (min) {
      out << (min_open ? "> " : ">= ") << spell(*min);
    } else if (max) {
      out << (max_open ? "< " : "<= ") << spell(*max);
    } else {
      out << "finite";
    }
    return out.str();
  }

 private:
  // Whole numbers in full (1000000, not 1e+06), others as a stream writes them.
  static std::string spell(double x) {
    std::ostringstream out;
    if (std::floor(x) == x && std::fabs(x) < 1e15) {
      out << static_cast<int64_t>(x);
    } else {
      out << x;
    }
    return out.str();
  }
};

/// The one name table of an enum: each value and how it is spelled in JSON, flags and messages.
template <typename E>
struct EnumNames {
  /// Every value with its name, in the order they are listed in messages.
  std::vector<std::pair<E, std::string>> entries;

  /// The name of `value`. Throws c10::Error for a value missing from the table.
  const std::string& name(E value) const {
    for (const auto& [v, n] : entries) {
      if (v == value) return n;
    }
    TORCH_CHECK(false, "no name for enum value ", static_cast<int>(value));
  }

  /// Whether `value` is in the table.
  bool has(E value) const {
    for (const auto& entry : entries) {
      if (entry.first == value) return true;
    }
    return false;
  }

  /// The value spelled `text`, or nothing.
  std::optional<E> find(const std::string& text) const {
    for (const auto& [v, n] : entries) {
      if (n == text) return v;
    }
    return std::nullopt;
  }

  /// The names quoted and joined: `"adam" or "sgd"`, `"a", "b" or "c"`.
  std::string choices() const {
    std::string out;
    for (std::size_t i = 0; i < entries.size(); ++i) {
      if (i > 0) out += i + 1 == entries.size() ? " or " : ", ";
      out += "\"" + entries[i].second + "\"";
    }
    return out;
  }

  /// The value spelled `text`. Throws c10::Error "<what> must be <choices>, got "<text>"".
  E parse(const std::string& text, const std::string& what) const {
    const auto value = find(text);
    TORCH_CHECK(value.has_value(), what, " must be ", choices(), ", got \"", text, "\"");
    return *value;
  }
};

/// The visitor behind `check_fields`: every number inside its bounds.
class FieldChecker {
 public:
  /// Throws c10::Error "<name> must be <bounds>, got <value>".
  template <typename T>
  void number(const char* name, const T& value, const Bounds& bounds, const char* /*description*/) {
    TORCH_CHECK(bounds.contains(static_cast<double>(value)), name, " must be ", bounds.describe(),
                ", got ", value);
  }
  /// Flags are always valid.
  void flag(const char* /*name*/, const bool& /*value*/, const char* /*description*/) {}
  /// An enum holds one of its values by construction; one missing from the table is refused.
  template <typename E>
  void choice(const char* name, const E& value, const EnumNames<E>& names,
              const char* /*description*/) {
    TORCH_CHECK(names.has(value), name, " must be ", names.choices(), ", got the value ",
                static_cast<int>(value));
  }
  /// Throws c10::Error "<name> entries must be <bounds>, got <value>".
  void numbers(const char* name, const std::vector<int64_t>& values, const Bounds& bounds,
               const char* /*description*/) {
    for (const auto value : values) {
      TORCH_CHECK(bounds.contains(static_cast<double>(value)), name, " entries must be ",
                  bounds.describe(), ", got ", value);
    }
  }
};

/// Checks every field of `options` against its table (`visit_fields(options, visitor)` found by
/// argument-dependent lookup). Throws c10::Error naming the first field out of bounds.
template <typename Options>
void check_fields(const Options& options) {
  FieldChecker checker;
  visit_fields(options, checker);
}

}  // namespace distillery

// What the benchmark programs share: the median of repeated timings, and bench/RESULTS.md,
// which holds one section per benchmark between HTML comment markers, so that each benchmark
// program rewrites its own section and leaves the others as they are.
#pragma once

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace bench {

// The median of `values` (the upper one of the middle two for an even count); not empty.
inline double median(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  return values[values.size() / 2];
}

// Replaces the text between "<!-- <name>:begin -->" and "<!-- <name>:end -->" in the file at
// `path` by `section` (appending both markers and the section when they are absent).
inline void write_section(const std::string& path, const std::string& name,
                          const std::string& section) {
  std::string text;
  {
    std::ifstream in(path);
    std::ostringstream buffer;
    buffer << in.rdbuf();
    text = buffer.str();
  }
  const std::string begin = "<!-- " + name + ":begin -->\n", end = "<!-- " + name + ":end -->\n";
  const auto b = text.find(begin);
  const auto e = b == std::string::npos ? std::string::npos : text.find(end, b);
  const std::string block = begin + section + end;
  if (b == std::string::npos || e == std::string::npos) {
    if (!text.empty() && text.back() != '\n') text += "\n";
    text += (text.empty() ? "" : "\n") + block;
  } else {
    text.replace(b, e + end.size() - b, block);
  }
  const std::string tmp = path + ".tmp";
  std::ofstream(tmp) << text;
  std::rename(tmp.c_str(), path.c_str());
}

}  // namespace bench

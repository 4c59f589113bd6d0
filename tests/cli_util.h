#pragma once
// Helpers of the end-to-end tests (test_cli.cpp, test_cli_models.cpp): running the program, and a
// tiny experiment on tiny IDX files written for each test.

#include <gtest/gtest.h>

#include <sys/wait.h>

#include <cstdlib>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "test_util.h"

namespace distillery::test {

/// What a command did.
struct Run {
  int exit_code = -1;
  std::string output;  // stdout and stderr together
};

/// Runs `command` through the shell, its output logged in `dir`.
inline Run run_command(const std::string& command, const TempDir& dir) {
  const std::string log = dir.file("command.log");
  const int status = std::system((command + " > " + log + " 2>&1 < /dev/null").c_str());
  Run r;
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  r.output = slurp(log);
  return r;
}

/// A small experiment config: a ConvNet teacher (6 epochs) and an MLP student (3 epochs).
inline std::string tiny_config(const std::string& data_dir, const std::string& out_dir) {
  nlohmann::json c = {
      {"name", "tiny"},
      {"out_dir", out_dir},
      {"threads", 1},
      {"data", {{"dir", data_dir}}},
      {"teacher",
       {{"model", {{"architecture", "convnet"}, {"channels", {4, 8}}, {"hidden", {32}}}},
        {"training", {{"epochs", 6}, {"batch_size", 32}, {"learning_rate", 0.003}}}}},
      {"student",
       {{"model", {{"architecture", "mlp"}, {"hidden", {16}}}},
        {"training", {{"epochs", 3}, {"batch_size", 32}}}}},
      {"distillation", {{"temperature", 2.0}, {"alpha", 0.5}}}};
  return c.dump(2);
}

/// A temporary directory with 300 training and 100 test images and the tiny config.
class CliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::filesystem::create_directories(data_dir);
    write_tiny_mnist(data_dir, 300, 100, /*gzip=*/true);
    write(config, tiny_config(data_dir, out_dir));
  }
  static void write(const std::string& path, const std::string& text) {
    write_bytes(path, std::vector<uint8_t>(text.begin(), text.end()));
  }
  std::string cli(const std::string& args) const { return std::string(DISTILLERY_CLI) + " " + args; }

  TempDir dir;
  std::string data_dir = dir.file("data");
  std::string out_dir = dir.file("out");
  std::string config = dir.file("exp.json");
};

}  // namespace distillery::test

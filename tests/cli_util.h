#pragma once
// Helpers of the end-to-end tests (test_cli*.cpp): running the program, and a tiny experiment on
// tiny IDX files written for each test.

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>

#include "test_util.h"

namespace distillery::test {

/// What a command did.
struct CommandResult {
  int exit_code = -1;       // -1 when it did not exit normally (a signal)
  std::string output;       // stdout and stderr together
  std::string stdout_text;  // stdout alone
};

/// Runs `command` through the shell with stdin from /dev/null, its stdout and stderr kept in
/// files of `dir`.
CommandResult run_command(const std::string& command, const TempDir& dir);

/// A config that trains a tiny ConvNet teacher and distils an MLP student on the data in
/// `data_dir` (from write_tiny_mnist) into `out_dir`, with the given epochs, on one thread.
nlohmann::json tiny_config(const std::string& data_dir, const std::string& out_dir,
                           int teacher_epochs = 6, int student_epochs = 3);

/// A temporary directory with 300 training and 100 test images (gzip) and the tiny config
/// (6 teacher epochs, 3 student epochs) in `config`.
class CliTest : public ::testing::Test {
 protected:
  void SetUp() override;
  static void write(const std::string& path, const std::string& text);
  std::string cli(const std::string& args) const;

  TempDir dir;
  std::string data_dir = dir.file("data");
  std::string out_dir = dir.file("out");
  std::string config = dir.file("exp.json");
};

/// A fixture with a tiny data set (200 training and 50 test images) and a tiny_config (2 teacher
/// epochs, 1 student epoch) in `config` (not yet written), run by `cli`.
class TinyRunTest : public ::testing::Test {
 protected:
  void SetUp() override;
  /// Writes `c` to `config_path` and runs the program with `args`.
  CommandResult cli(const std::string& args, const nlohmann::json& c) const;

  TempDir dir;
  std::string data_dir = dir.file("data");
  std::string out_dir = dir.file("out");
  std::string config_path = dir.file("exp.json");
  nlohmann::json config;
};

}  // namespace distillery::test

#include "cli_util.h"

#include <sys/wait.h>

#include <cstdlib>
#include <filesystem>

namespace distillery::test {

CommandResult run_command(const std::string& command, const TempDir& dir) {
  const std::string out = dir.file("command.stdout"), err = dir.file("command.stderr");
  const int status =
      std::system((command + " > " + out + " 2> " + err + " < /dev/null").c_str());
  CommandResult r;
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  r.stdout_text = slurp(out);
  r.output = r.stdout_text + slurp(err);
  return r;
}

nlohmann::json tiny_config(const std::string& data_dir, const std::string& out_dir,
                           int teacher_epochs, int student_epochs) {
  return {{"name", "tiny"},
          {"out_dir", out_dir},
          {"threads", 1},
          {"data", {{"dir", data_dir}}},
          {"teacher",
           {{"model", {{"architecture", "convnet"}, {"channels", {4, 8}}, {"hidden", {32}}}},
            {"training",
             {{"epochs", teacher_epochs}, {"batch_size", 32}, {"learning_rate", 0.003}}}}},
          {"student",
           {{"model", {{"architecture", "mlp"}, {"hidden", {16}}}},
            {"training", {{"epochs", student_epochs}, {"batch_size", 32}}}}},
          {"distillation", {{"temperature", 2.0}, {"alpha", 0.5}}}};
}

void CliTest::SetUp() {
  std::filesystem::create_directories(data_dir);
  write_tiny_mnist(data_dir, 300, 100, /*gzip=*/true);
  write(config, tiny_config(data_dir, out_dir).dump(2));
}

void CliTest::write(const std::string& path, const std::string& text) {
  write_bytes(path, std::vector<uint8_t>(text.begin(), text.end()));
}

std::string CliTest::cli(const std::string& args) const {
  return std::string(DISTILLERY_CLI) + " " + args;
}

void TinyRunTest::SetUp() {
  std::filesystem::create_directories(data_dir);
  write_tiny_mnist(data_dir, 200, 50, /*gzip=*/false);
  config = tiny_config(data_dir, out_dir, /*teacher_epochs=*/2, /*student_epochs=*/1);
}

CommandResult TinyRunTest::cli(const std::string& args, const nlohmann::json& c) const {
  const auto text = c.dump(2);
  write_bytes(config_path, std::vector<uint8_t>(text.begin(), text.end()));
  return run_command(std::string(DISTILLERY_CLI) + " " + args, dir);
}

}  // namespace distillery::test

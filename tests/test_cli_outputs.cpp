// End-to-end: what `distillery run` does to its output directory. It never removes or replaces
// a file it did not write, refuses a directory another run holds, and a run that fails (a full
// disk, a diverging student) leaves the previous results exactly as they were.

#include <gtest/gtest.h>

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>

#include "distillery/io.h"
#include "cli_util.h"

namespace fs = std::filesystem;
using distillery::test::FileSizeLimit;
using distillery::test::CommandResult;
using distillery::test::run_command;
using distillery::test::directory_snapshot;
using distillery::test::slurp;
using distillery::test::TempDir;

namespace {


class CliOutputsTest : public distillery::test::TinyRunTest {
 protected:
  CommandResult run(const nlohmann::json& c) const { return cli("run " + config_path, c); }
};

TEST_F(CliOutputsTest, FilesTheRunDidNotWriteAreKept) {
  fs::create_directories(out_dir);
  const std::vector<std::string> user_files = {"teacher.pth", "teacher.pt.bak", "notes.txt",
                                               "teacher_member_notes.txt", "specialist_x.md",
                                               "student_scratch.pt.old"};
  for (const auto& name : user_files) distillery::write_file_atomic(out_dir + "/" + name, name);
  const auto r = run(config);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  for (const auto& name : user_files) {
    ASSERT_TRUE(fs::exists(out_dir + "/" + name)) << name << " was removed";
    EXPECT_EQ(slurp(out_dir + "/" + name), name);
  }
  EXPECT_TRUE(fs::exists(out_dir + "/results.json"));
}

TEST_F(CliOutputsTest, ATorchScriptTeacherStoredAsTeacherPtInOutDirSurvives) {
  fs::create_directories(out_dir);
  const auto teacher = out_dir + "/teacher.pt";
  fs::copy_file(std::string(DISTILLERY_FIXTURE_DIR) + "/teacher_mlp.ts", teacher);
  const auto bytes = slurp(teacher);
  config["teacher"] = {{"torchscript", teacher}};
  const auto r = run(config);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  ASSERT_TRUE(fs::exists(teacher)) << "the run deleted its own TorchScript teacher";
  EXPECT_EQ(slurp(teacher), bytes);
}

TEST_F(CliOutputsTest, ADirectoryHeldByAnotherRunIsRefused) {
  fs::create_directories(out_dir);
  const auto lock = out_dir + "/.distillery.lock";
  const int fd = ::open(lock.c_str(), O_RDWR | O_CREAT, 0644);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::flock(fd, LOCK_EX | LOCK_NB), 0);
  const std::string holder = "pid 4242 since 2026-12-01 10:00:00 UTC\n";
  ASSERT_EQ(::write(fd, holder.data(), holder.size()), static_cast<ssize_t>(holder.size()));
  const auto r = run(config);
  ::close(fd);
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find(out_dir + " is in use by another distillery run (pid 4242 since "
                                    "2026-12-01 10:00:00 UTC); wait for it to finish or choose "
                                    "another out_dir"),
            std::string::npos)
      << r.output;
  EXPECT_FALSE(fs::exists(out_dir + "/config.json"));
  // Released (the holder died): the lock file left behind does not block the next run.
  const auto again = run(config);
  EXPECT_EQ(again.exit_code, 0) << again.output;
}

TEST_F(CliOutputsTest, AFullDiskFailsCleanlyAndKeepsTheLastGoodResults) {
  const auto first = run(config);
  ASSERT_EQ(first.exit_code, 0) << first.output;
  const auto before = directory_snapshot(out_dir);
  config["seed"] = 7;
  CommandResult r;
  {
    FileSizeLimit limit(24 * 1024);  // the teacher's model file (about 50 KB) cannot be written
    r = run(config);
  }
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find("cannot write " + out_dir + "/.incomplete/teacher.pt: File too large"),
            std::string::npos)
      << r.output;
  EXPECT_EQ(r.output.find("terminate"), std::string::npos) << r.output;
  // No staging directory, no temporary file, the same bytes.
  EXPECT_EQ(directory_snapshot(out_dir), before);
}

TEST_F(CliOutputsTest, AFailedRunLeavesOutDirAsItWas) {
  const auto first = run(config);
  ASSERT_EQ(first.exit_code, 0) << first.output;
  fs::remove(out_dir + "/soft_targets.bin");
  const auto before = directory_snapshot(out_dir);
  // The teacher is trained and its soft targets computed; then the distilled student diverges.
  config["seed"] = 3;
  config["student"]["scratch"] = false;
  config["student"]["training"]["learning_rate"] = 1e30;
  const auto r = run(config);
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find("student_distilled: training loss became"), std::string::npos)
      << r.output;
  // soft_targets.bin was staged, not written into out_dir.
  EXPECT_EQ(directory_snapshot(out_dir), before);
}

TEST_F(CliOutputsTest, AnOutDirInsideTheDataDirectoryGetsItsOutputs) {
  config["out_dir"] = data_dir + "/runs/x";
  const auto r = run(config);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  for (const char* name : {"results.json", "teacher.pt", "student_distilled.pt", "config.json"}) {
    EXPECT_TRUE(fs::exists(data_dir + "/runs/x/" + name)) << name << "\n" << r.output;
  }
}

TEST_F(CliOutputsTest, SoftTargetsOutputIsNeverAnInputNorTheTeachersFile) {
  const auto teacher = dir.file("teacher.pt");
  const auto tiny_config_teacher = config["teacher"];
  ASSERT_EQ(run(config).exit_code, 0);
  fs::copy_file(out_dir + "/teacher.pt", teacher);
  config["teacher"] = {{"checkpoint", teacher}};
  auto r = cli("soft-targets " + config_path + " --output " + teacher, config);
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(r.output.find("--output " + teacher + " is an input of this run (a teacher, data or "
                          "config file); choose another file"),
            std::string::npos)
      << r.output;
  r = cli("soft-targets " + config_path + " --output " + out_dir + "/teacher.pt", config);
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(r.output.find(" keeps a model, a result or its own records under that name; choose "
                          "another file name"),
            std::string::npos)
      << r.output;
  // A bare name, from inside out_dir, is the same file.
  r = run_command("cd " + out_dir + " && " + std::string(DISTILLERY_CLI) + " soft-targets " +
                      config_path + " --output teacher.pt",
                  dir);
  EXPECT_EQ(r.exit_code, 2) << r.output;
  // Inside out_dir under another name: the user's file, which a later run leaves alone.
  r = cli("soft-targets " + config_path + " --output " + out_dir + "/mine.bin", config);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_TRUE(fs::exists(out_dir + "/results.json"));  // the earlier run's outputs stay
  config["teacher"] = tiny_config_teacher;
  ASSERT_EQ(run(config).exit_code, 0);
  EXPECT_TRUE(fs::exists(out_dir + "/mine.bin"));
}

}  // namespace

// The output directory: its lock, staged outputs, the all-or-nothing commit, the manifest that
// keeps a run from removing files it did not write, and protected inputs.

#include "distillery/app/output_dir.h"

#include <gtest/gtest.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "distillery/io.h"
#include "test_util.h"

namespace fs = std::filesystem;
using distillery::OutputDirectory;
using distillery::write_file_atomic;
using distillery::test::runtime_error_of;
using distillery::test::directory_snapshot;
using distillery::test::slurp;
using distillery::test::TempDir;

namespace {


std::vector<std::string> manifest_of(const std::string& dir) {
  return nlohmann::json::parse(slurp(dir + "/.distillery-manifest.json"))
      .at("files")
      .get<std::vector<std::string>>();
}

class OutputDirectoryTest : public ::testing::Test {
 protected:
  TempDir tmp;
  std::string out = tmp.file("out");
};

TEST_F(OutputDirectoryTest, CommitInstallsTheStagedFilesAndRecordsThem) {
  {
    OutputDirectory d(out);
    EXPECT_EQ(d.path("results.json"), out + "/.incomplete/results.json");
    EXPECT_EQ(d.final_path("results.json"), out + "/results.json");
    write_file_atomic(d.path("results.json"), "{}");
    write_file_atomic(d.path("teacher.pt"), "T");
    EXPECT_FALSE(fs::exists(out + "/teacher.pt"));  // staged only
    d.commit();
  }
  EXPECT_EQ(slurp(out + "/teacher.pt"), "T");
  EXPECT_EQ(slurp(out + "/results.json"), "{}");
  EXPECT_FALSE(fs::exists(out + "/.incomplete"));
  EXPECT_FALSE(fs::exists(out + "/.distillery-previous"));
  EXPECT_FALSE(fs::exists(out + "/.distillery-commit.json"));
  EXPECT_EQ(manifest_of(out), (std::vector<std::string>{"results.json", "teacher.pt"}));
}

TEST_F(OutputDirectoryTest, RemovesOnlyEarlierOutputsItDoesNotWriteAgain) {
  fs::create_directories(out);
  for (const char* user : {"teacher.pth", "teacher.pt.bak", "notes.txt", "specialist_notes.md",
                           "teacher_member_x.txt"}) {
    write_file_atomic(out + "/" + user, user);
  }
  {
    OutputDirectory d(out);
    for (const char* name : {"results.json", "specialist_0.pt", "specialist_3.pt", "teacher.pt"}) {
      write_file_atomic(d.path(name), "first");
    }
    d.commit();
  }
  {
    OutputDirectory d(out);
    for (const char* name : {"results.json", "specialist_0.pt"}) {
      write_file_atomic(d.path(name), "second");
    }
    d.commit();
  }
  EXPECT_EQ(slurp(out + "/specialist_0.pt"), "second");
  EXPECT_FALSE(fs::exists(out + "/specialist_3.pt"));  // an output of the first run only
  EXPECT_FALSE(fs::exists(out + "/teacher.pt"));
  for (const char* user : {"teacher.pth", "teacher.pt.bak", "notes.txt", "specialist_notes.md",
                           "teacher_member_x.txt"}) {
    EXPECT_EQ(slurp(out + "/" + user), user) << "a file the runs did not write was changed";
  }
  EXPECT_EQ(manifest_of(out), (std::vector<std::string>{"results.json", "specialist_0.pt"}));
}

TEST_F(OutputDirectoryTest, AProtectedInputIsNeitherReplacedNorRemoved) {
  {
    OutputDirectory d(out);
    write_file_atomic(d.path("teacher.pt"), "trained by run 1");
    write_file_atomic(d.path("soft_targets.bin"), "computed by run 1");
    d.commit();
  }
  {
    OutputDirectory d(out);
    d.protect(out + "/teacher.pt");       // run 2 loads its teacher from here
    d.protect(out + "/soft_targets.bin");  // and reuses the stored soft targets
    write_file_atomic(d.path("teacher.pt"), "saved again by run 2");
    d.commit();  // run 2 does not write soft_targets.bin: kept, and still listed
  }
  EXPECT_EQ(slurp(out + "/teacher.pt"), "trained by run 1");
  EXPECT_EQ(slurp(out + "/soft_targets.bin"), "computed by run 1");
  EXPECT_EQ(manifest_of(out), (std::vector<std::string>{"soft_targets.bin", "teacher.pt"}));
}

TEST_F(OutputDirectoryTest, AddingAFileKeepsTheEarlierOutputs) {
  {
    OutputDirectory d(out);
    write_file_atomic(d.path("results.json"), "{}");
    d.commit();
  }
  {
    OutputDirectory d(out);
    write_file_atomic(d.path("soft_targets.bin"), "S");
    d.commit(/*remove_stale=*/false);
  }
  EXPECT_TRUE(fs::exists(out + "/results.json"));
  EXPECT_EQ(manifest_of(out), (std::vector<std::string>{"results.json", "soft_targets.bin"}));
}

TEST_F(OutputDirectoryTest, ASecondRunIsRefusedWhileTheLockIsHeld) {
  OutputDirectory first(out);
  const auto message = runtime_error_of([&] { OutputDirectory second(out); });
  const std::string expected =
      out + " is in use by another distillery run (pid " + std::to_string(::getpid()) + " since ";
  EXPECT_EQ(message.rfind(expected, 0), 0u) << message;
  EXPECT_NE(message.find(" UTC); wait for it to finish or choose another out_dir"),
            std::string::npos)
      << message;
}

TEST_F(OutputDirectoryTest, AStaleLockIsTakenOver) {
  { OutputDirectory first(out); }  // released: the lock file stays behind
  write_file_atomic(out + "/.distillery.lock", "pid 999999 since 2020-01-01 00:00:00 UTC\n");
  OutputDirectory second(out);
  EXPECT_EQ(slurp(out + "/.distillery.lock").rfind("pid " + std::to_string(::getpid()), 0), 0u);
}

TEST_F(OutputDirectoryTest, AFailedRunChangesNothing) {
  {
    OutputDirectory d(out);
    write_file_atomic(d.path("results.json"), "good");
    d.commit();
  }
  const auto before = directory_snapshot(out);
  {
    OutputDirectory d(out);
    write_file_atomic(d.path("results.json"), "half done");
    write_file_atomic(d.path("metrics.jsonl"), "{}");
  }  // destroyed without commit: the run failed
  EXPECT_EQ(directory_snapshot(out), before);
}

TEST_F(OutputDirectoryTest, AnOutputNameTakenByADirectoryIsRefusedBeforeAnyChange) {
  fs::create_directories(out + "/teacher.pt");
  OutputDirectory d(out);
  write_file_atomic(d.path("results.json"), "new");
  write_file_atomic(d.path("teacher.pt"), "new");
  EXPECT_EQ(runtime_error_of([&] { d.commit(); }),
            out + "/teacher.pt is a directory, but this run writes a file of that name; move "
                  "the directory away and run again");
  EXPECT_FALSE(fs::exists(out + "/results.json"));
}

// Sets or clears the immutable attribute of `path` (as chattr +i / -i); false where the file
// system or the permissions do not allow it.
bool set_immutable(const std::string& path, bool on) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  int flags = 0;
  bool ok = ::ioctl(fd, FS_IOC_GETFLAGS, &flags) == 0;
  flags = on ? (flags | FS_IMMUTABLE_FL) : (flags & ~FS_IMMUTABLE_FL);
  ok = ok && ::ioctl(fd, FS_IOC_SETFLAGS, &flags) == 0;
  ::close(fd);
  return ok;
}

TEST_F(OutputDirectoryTest, ARenameThatFailsMidwayPutsThePreviousOutputsBack) {
  {
    OutputDirectory d(out);
    for (const char* name : {"a.pt", "results.json"}) write_file_atomic(d.path(name), "old");
    d.commit();
  }
  const auto before = directory_snapshot(out);
  OutputDirectory d(out);
  for (const char* name : {"a.pt", "b.pt", "results.json"}) write_file_atomic(d.path(name), "new");
  // An immutable results.json cannot be moved aside: that rename fails after a.pt and the
  // manifest were moved aside.
  if (!set_immutable(out + "/results.json", true)) {
    GTEST_SKIP() << "this file system does not support the immutable attribute";
  }
  const auto message = runtime_error_of([&] { d.commit(); });
  set_immutable(out + "/results.json", false);
  EXPECT_EQ(message, "cannot install the outputs into " + out + " (" + out +
                         "/results.json: Operation not permitted); the previous outputs are "
                         "unchanged");
  auto after = directory_snapshot(out);
  for (auto it = after.begin(); it != after.end();) {
    it = it->first.rfind(".incomplete", 0) == 0 ? after.erase(it) : std::next(it);
  }
  EXPECT_EQ(after, before);
}

// The state a commit leaves when killed after moving aside a.pt and results.json and installing
// a.pt and b.pt, with c.pt and results.json still staged.
TEST_F(OutputDirectoryTest, ACommitKilledWhileInstallingIsUndoneByTheNextRun) {
  fs::create_directories(out + "/.distillery-previous");
  fs::create_directories(out + "/.incomplete");
  write_file_atomic(out + "/.distillery-previous/a.pt", "old a");
  write_file_atomic(out + "/.distillery-previous/results.json", "old results");
  write_file_atomic(out + "/a.pt", "new a");
  write_file_atomic(out + "/b.pt", "new b");
  write_file_atomic(out + "/.incomplete/c.pt", "new c");
  write_file_atomic(out + "/.incomplete/results.json", "new results");
  write_file_atomic(out + "/.distillery-commit.json",
                    R"({"backup": ["a.pt", "results.json"],
                        "install": ["a.pt", "b.pt", "c.pt", "results.json"], "kept": []})");
  OutputDirectory d(out);
  EXPECT_EQ(slurp(out + "/a.pt"), "old a");
  EXPECT_FALSE(fs::exists(out + "/b.pt"));
  EXPECT_FALSE(fs::exists(out + "/c.pt"));
  EXPECT_EQ(slurp(out + "/results.json"), "old results");
  EXPECT_FALSE(fs::exists(out + "/.distillery-previous"));
  EXPECT_FALSE(fs::exists(out + "/.distillery-commit.json"));
}

// Killed while moving files aside: nothing was installed, and a file the user put in out_dir
// since then, under a name the commit would install, is not taken for an installed one.
TEST_F(OutputDirectoryTest, ACommitKilledWhileMovingAsideKeepsWhatIsThere) {
  fs::create_directories(out + "/.distillery-previous");
  fs::create_directories(out + "/.incomplete");
  write_file_atomic(out + "/.distillery-previous/a.pt", "old a");
  write_file_atomic(out + "/results.json", "old results");  // not yet moved aside
  write_file_atomic(out + "/b.pt", "the user's, put there after the crash");
  write_file_atomic(out + "/notes.txt.user", "renamed by the commit");
  for (const char* name : {"a.pt", "b.pt", "results.json"}) {
    write_file_atomic(out + "/.incomplete/" + name, "new");
  }
  write_file_atomic(out + "/.distillery-commit.json",
                    R"({"backup": ["a.pt", "results.json"],
                        "install": ["a.pt", "b.pt", "results.json"],
                        "kept": [["notes.txt", "notes.txt.user"]]})");
  OutputDirectory d(out);
  EXPECT_EQ(slurp(out + "/a.pt"), "old a");
  EXPECT_EQ(slurp(out + "/results.json"), "old results");
  EXPECT_EQ(slurp(out + "/b.pt"), "the user's, put there after the crash");
  EXPECT_EQ(slurp(out + "/notes.txt"), "renamed by the commit");
}

TEST_F(OutputDirectoryTest, ADamagedJournalStopsTheRunAndKeepsWhatWasMovedAside) {
  fs::create_directories(out + "/.distillery-previous");
  write_file_atomic(out + "/.distillery-previous/results.json", "old results");
  write_file_atomic(out + "/.distillery-commit.json", R"({"backup": ["results.j)");
  EXPECT_EQ(runtime_error_of([&] { OutputDirectory d(out); }),
            out + ": an interrupted commit could not be undone (the journal " + out +
                "/.distillery-commit.json is damaged); the previous outputs are in " + out +
                "/.distillery-previous: move them back by hand, then remove " + out +
                "/.distillery-commit.json");
  EXPECT_EQ(slurp(out + "/.distillery-previous/results.json"), "old results");
}

TEST_F(OutputDirectoryTest, AFileNoRunWroteIsKeptAsideWhenAnOutputTakesItsName) {
  fs::create_directories(out);
  write_file_atomic(out + "/results.json", "the user's own");
  write_file_atomic(out + "/results.json.user", "an older one");
  {
    OutputDirectory d(out);
    write_file_atomic(d.path("results.json"), "run 1");
    d.commit();
  }
  EXPECT_EQ(slurp(out + "/results.json"), "run 1");
  EXPECT_EQ(slurp(out + "/results.json.user"), "an older one");
  EXPECT_EQ(slurp(out + "/results.json.user.1"), "the user's own");
  {
    OutputDirectory d(out);  // a file an earlier run wrote is simply replaced
    write_file_atomic(d.path("results.json"), "run 2");
    d.commit();
  }
  EXPECT_EQ(slurp(out + "/results.json"), "run 2");
  EXPECT_FALSE(fs::exists(out + "/results.json.user.2"));
}

TEST_F(OutputDirectoryTest, ALockFileThatIsASymbolicLinkIsNeverFollowed) {
  fs::create_directories(out);
  write_file_atomic(tmp.file("precious.txt"), "precious");
  fs::create_symlink(tmp.file("precious.txt"), out + "/.distillery.lock");
  EXPECT_EQ(runtime_error_of([&] { OutputDirectory d(out); }),
            "cannot lock " + out + ": " + out + "/.distillery.lock is a symbolic link; "
            "remove it and run again");
  EXPECT_EQ(slurp(tmp.file("precious.txt")), "precious");
}

TEST_F(OutputDirectoryTest, ADamagedManifestCannotPointAtBookkeepingOrOutside) {
  fs::create_directories(out);
  write_file_atomic(tmp.file("outside.txt"), "outside");
  write_file_atomic(out + "/.distillery-manifest.json",
                    R"({"files": [".distillery.lock", ".incomplete", "../outside.txt",
                                  ")" + tmp.file("outside.txt") + R"(", "old.pt"]})");
  write_file_atomic(out + "/old.pt", "old");
  write_file_atomic(out + "/.distillery-commit.json.tmp.12345", "left by a killed run");
  OutputDirectory d(out);
  EXPECT_FALSE(fs::exists(out + "/.distillery-commit.json.tmp.12345"));
  write_file_atomic(d.path("results.json"), "{}");
  d.commit();
  EXPECT_FALSE(fs::exists(out + "/old.pt"));  // listed: an earlier run's output
  EXPECT_TRUE(fs::exists(out + "/.distillery.lock"));
  EXPECT_EQ(slurp(tmp.file("outside.txt")), "outside");
}

TEST_F(OutputDirectoryTest, AnOutputNameTakenByADirectoryIsFoundBeforeTraining) {
  fs::create_directories(out + "/results.json");
  OutputDirectory d(out);
  EXPECT_EQ(runtime_error_of([&] { d.check_outputs({"config.json", "results.json"}); }),
            out + "/results.json is a directory, but this run writes a file of that name; move "
                  "the directory away and run again");
  d.check_outputs({"config.json", "teacher.pt"});  // free names: no error
}

TEST_F(OutputDirectoryTest, AFileGivenAsOutDirIsRefused) {
  write_file_atomic(out, "a file");
  EXPECT_EQ(runtime_error_of([&] { OutputDirectory d(out); }),
            "out_dir " + out + " exists and is not a directory; give a directory (it is created "
                               "if missing)");
}

}  // namespace

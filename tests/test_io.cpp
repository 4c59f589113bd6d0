// Atomic, durable writes: a failed write (here: beyond a file size limit, as a full disk would
// fail it) is an error naming the path, removes the temporary file and keeps the old contents.

#include "distillery/io.h"

#include <gtest/gtest.h>

#include <sys/stat.h>

#include <filesystem>

#include "test_util.h"

namespace fs = std::filesystem;
using distillery::test::FileSizeLimit;
using distillery::test::runtime_error_of;
using distillery::test::slurp;
using distillery::test::TempDir;

namespace {

// Names in `dir` that look like temporary files of write_file_atomic.
std::vector<std::string> temporaries(const std::string& dir) {
  std::vector<std::string> names;
  for (const auto& entry : fs::directory_iterator(dir)) {
    const auto name = entry.path().filename().string();
    if (name.find(".tmp.") != std::string::npos) names.push_back(name);
  }
  return names;
}

TEST(WriteFileAtomic, ReplacesTheContentsAndLeavesNoTemporary) {
  TempDir dir;
  const auto path = dir.file("sub/results.json");
  distillery::write_file_atomic(path, "first");
  distillery::write_file_atomic(path, std::vector<std::string_view>{"sec", "", "ond"});
  EXPECT_EQ(slurp(path), "second");
  EXPECT_TRUE(temporaries(dir.file("sub")).empty());
}

TEST(WriteFileAtomic, AFailedWriteKeepsTheOldFileAndRemovesTheTemporary) {
  TempDir dir;
  const auto path = dir.file("model.pt");
  distillery::write_file_atomic(path, "old contents");
  const std::string big(64 * 1024, 'x');
  {
    FileSizeLimit limit(16 * 1024);  // writes beyond 16 KiB fail with EFBIG, as on a full disk
    EXPECT_EQ(runtime_error_of([&] { distillery::write_file_atomic(path, big); }),
              "cannot write " + path + ": File too large");
    EXPECT_EQ(runtime_error_of([&] {
                distillery::write_file_atomic(path, std::vector<std::string_view>{big, big});
              }),
              "cannot write " + path + ": File too large");
  }
  EXPECT_EQ(slurp(path), "old contents");
  EXPECT_TRUE(temporaries(dir.path()).empty());
}

TEST(WriteFileAtomic, AMissingDirectoryThatCannotBeCreatedIsNamed) {
  TempDir dir;
  distillery::write_file_atomic(dir.file("plain"), "a file, not a directory");
  const auto path = dir.file("plain/results.json");
  const auto message = runtime_error_of([&] { distillery::write_file_atomic(path, "x"); });
  EXPECT_EQ(message.rfind("cannot create directory " + dir.file("plain") + " for " + path + ": ", 0),
            0u)
      << message;
}

TEST(WriteAtomicWith, ATemporaryOfAWriterThatThrowsIsRemoved) {
  TempDir dir;
  const auto path = dir.file("out.bin");
  EXPECT_EQ(runtime_error_of([&] {
              distillery::write_atomic_with(path, [](const std::string& tmp) {
                distillery::write_file_atomic(tmp + ".x", "unrelated");
                fs::copy_file(tmp + ".x", tmp);
                throw std::runtime_error("writer failed");
              });
            }),
            "writer failed");
  EXPECT_FALSE(fs::exists(path));
  EXPECT_TRUE(temporaries(dir.path()).size() == 1u);  // only the writer's own ".x" file
}

TEST(AppendLine, AppendsWholeLines) {
  TempDir dir;
  const auto path = dir.file("logs/metrics.jsonl");
  distillery::append_line(path, "{\"epoch\": 1}");
  distillery::append_line(path, "{\"epoch\": 2}");
  EXPECT_EQ(slurp(path), "{\"epoch\": 1}\n{\"epoch\": 2}\n");
}

TEST(AppendLine, AFailedAppendIsAnErrorNotSilence) {
  TempDir dir;
  const auto path = dir.file("metrics.jsonl");
  distillery::append_line(path, "{\"epoch\": 1}");
  FileSizeLimit limit(1024);
  EXPECT_EQ(runtime_error_of([&] { distillery::append_line(path, std::string(4096, 'x')); }),
            "cannot write " + path + ": File too large");
}

TEST(ReadFile, OnlyRegularFilesAreRead) {
  TempDir dir;
  const auto fifo = dir.file("config.json");
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0644), 0);
  // A FIFO would block the reader forever, /dev/zero would never end: both refused unopened.
  for (const std::string path : {fifo, std::string("/dev/zero")}) {
    EXPECT_EQ(runtime_error_of([&] { distillery::read_file(path); }),
              "cannot open " + path + ": not a regular file (a FIFO, socket or device); give a "
                                      "file");
  }
  EXPECT_EQ(runtime_error_of([&] { distillery::read_file(dir.path()); }),
            "cannot open " + dir.path() + ": it is a directory, not a file");
}

}  // namespace

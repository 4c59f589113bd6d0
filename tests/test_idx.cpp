#include <gtest/gtest.h>
#include <torch/torch.h>

#include <filesystem>

#include "distillery/data/idx.h"
#include "test_util.h"

namespace dd = distillery::data;
using distillery::test::TempDir;
using distillery::test::idx_bytes;
using distillery::test::write_bytes;

namespace {

std::string error_of(const std::function<void()>& f) {
  return distillery::test::runtime_error_of(f);
}

TEST(IdxReader, ReadsPlainAndGzipFilesIdentically) {
  TempDir dir;
  std::vector<uint8_t> pixels(2 * 3 * 4);
  for (std::size_t i = 0; i < pixels.size(); ++i) pixels[i] = static_cast<uint8_t>(i * 7);
  write_bytes(dir.file("plain"), idx_bytes({2, 3, 4}, pixels));
  write_bytes(dir.file("packed.gz"), idx_bytes({2, 3, 4}, pixels), /*gzip=*/true);
  const auto plain = dd::read_idx(dir.file("plain"), 3);
  const auto packed = dd::read_idx(dir.file("packed.gz"), 3);
  EXPECT_EQ(plain.sizes(), (std::vector<int64_t>{2, 3, 4}));
  EXPECT_EQ(plain.scalar_type(), torch::kUInt8);
  EXPECT_EQ(plain[1][2][3].item<int>(), 23 * 7 % 256);
  EXPECT_TRUE(torch::equal(plain, packed));
}

TEST(IdxReader, ReadsLabels) {
  TempDir dir;
  write_bytes(dir.file("labels"), idx_bytes({5}, {3, 1, 4, 1, 5}));
  const auto labels = dd::read_idx(dir.file("labels"), 1);
  EXPECT_TRUE(torch::equal(labels, torch::tensor({3, 1, 4, 1, 5}, torch::kUInt8)));
}

TEST(IdxReader, RejectsWrongMagic) {
  TempDir dir;
  auto bytes = idx_bytes({2}, {0, 1});
  bytes[0] = 0x12;
  bytes[1] = 0x34;
  write_bytes(dir.file("bad"), bytes);
  EXPECT_EQ(error_of([&] { dd::read_idx(dir.file("bad")); }),
            dir.file("bad") + ": not an IDX file (magic number 0x12340801; expected 0x0000080N)");
}

TEST(IdxReader, RejectsWrongRank) {
  TempDir dir;
  write_bytes(dir.file("labels"), idx_bytes({2}, {0, 1}));
  EXPECT_EQ(error_of([&] { dd::read_idx(dir.file("labels"), 3); }),
            dir.file("labels") +
                ": IDX rank 1, expected 3 (magic number 0x00000801; images are 0x00000803, "
                "labels 0x00000801)");
}

TEST(IdxReader, RejectsTruncatedData) {
  TempDir dir;
  write_bytes(dir.file("short"), idx_bytes({10, 28, 28}, std::vector<uint8_t>(1000)));
  EXPECT_EQ(error_of([&] { dd::read_idx(dir.file("short"), 3); }),
            dir.file("short") + ": truncated: header promises 7840 data bytes but the file holds 1000");
  write_bytes(dir.file("short.gz"), idx_bytes({10, 28, 28}, std::vector<uint8_t>(1000)), true);
  EXPECT_EQ(error_of([&] { dd::read_idx(dir.file("short.gz"), 3); }),
            dir.file("short.gz") +
                ": truncated: header promises 7840 data bytes but the file holds 1000");
}

TEST(IdxReader, RejectsTruncatedHeaderAndTrailingBytes) {
  TempDir dir;
  write_bytes(dir.file("hdr"), {0, 0, 8, 3, 0, 0});
  EXPECT_EQ(error_of([&] { dd::read_idx(dir.file("hdr")); }),
            dir.file("hdr") + ": truncated: header needs 16 bytes but the file holds 6");
  write_bytes(dir.file("long"), idx_bytes({2}, {1, 2, 3}));
  EXPECT_EQ(error_of([&] { dd::read_idx(dir.file("long")); }),
            dir.file("long") + ": 1 unexpected bytes after the 2 data bytes the header promises");
}

TEST(IdxReader, RejectsCutGzipStream) {
  TempDir dir;
  write_bytes(dir.file("full.gz"), idx_bytes({100, 28, 28}, std::vector<uint8_t>(78400, 9)), true);
  auto bytes = distillery::test::slurp(dir.file("full.gz"));
  write_bytes(dir.file("cut.gz"),
              std::vector<uint8_t>(bytes.begin(), bytes.begin() + bytes.size() / 2));
  const auto message = error_of([&] { dd::read_idx(dir.file("cut.gz")); });
  EXPECT_EQ(message.rfind(dir.file("cut.gz") + ": ", 0), 0u) << message;
  EXPECT_NE(message.find("truncated"), std::string::npos) << message;
}

TEST(IdxReader, MissingFileNamesThePath) {
  EXPECT_EQ(error_of([] { dd::read_idx("/nonexistent/train-images-idx3-ubyte"); }),
            "/nonexistent/train-images-idx3-ubyte: no such file");
}

TEST(IdxReader, FindIdxFilePrefersPlainThenGz) {
  TempDir dir;
  write_bytes(dir.file("a.gz"), idx_bytes({1}, {0}), true);
  EXPECT_EQ(dd::find_idx_file(dir.path(), "a"), dir.file("a.gz"));
  write_bytes(dir.file("a"), idx_bytes({1}, {0}));
  EXPECT_EQ(dd::find_idx_file(dir.path(), "a"), dir.file("a"));
  const auto message = error_of([&] { dd::find_idx_file(dir.path(), "b"); });
  EXPECT_EQ(message.rfind("data file not found: neither " + dir.file("b") + " nor " +
                              dir.file("b.gz") + " exists.", 0),
            0u)
      << message;
}

TEST(IdxReader, DataDirectoryThatIsAFileIsNamedAsSuch) {
  TempDir dir;
  write_bytes(dir.file("afile"), {1});
  EXPECT_EQ(error_of([&] { dd::find_idx_file(dir.file("afile"), "x"); }),
            dir.file("afile") + " is not a directory; point the data directory at the folder "
                                "holding the IDX files");
}

}  // namespace

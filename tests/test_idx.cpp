#include <gtest/gtest.h>
#include <torch/torch.h>

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>

#include "distillery/data/idx.h"
#include "test_util.h"

namespace dd = distillery::data;
using distillery::test::TempDir;
using distillery::test::idx_bytes;
using distillery::test::write_bytes;
using distillery::test::peak_memory_bytes;

constexpr int64_t kMiB = 1 << 20;

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
  // Incompressible data cut in half passes the size bound and ends early while inflating.
  std::vector<uint8_t> noise(78400);
  uint32_t state = 1;
  for (auto& byte : noise) byte = static_cast<uint8_t>((state = state * 1103515245u + 12345u) >> 24);
  write_bytes(dir.file("noise.gz"), idx_bytes({100, 28, 28}, noise), true);
  bytes = distillery::test::slurp(dir.file("noise.gz"));
  write_bytes(dir.file("cut.gz"),
              std::vector<uint8_t>(bytes.begin(), bytes.begin() + bytes.size() / 2));
  const auto early = error_of([&] { dd::read_idx(dir.file("cut.gz")); });
  const std::string start = dir.file("cut.gz") + ": truncated: header promises 78400 data bytes "
                                                 "but the file holds ";
  const std::string end = " (truncated gzip stream)";
  EXPECT_EQ(early.rfind(start, 0), 0u) << early;
  ASSERT_GT(early.size(), start.size() + end.size()) << early;
  EXPECT_EQ(early.substr(early.size() - end.size()), end) << early;
  EXPECT_EQ(dd::read_idx(dir.file("cut.gz"), 3, 10).sizes()[0], 10);  // the first records are there
}

TEST(IdxReader, GzipTrailerIsCheckedAfterTheData) {
  TempDir dir;
  write_bytes(dir.file("full.gz"), idx_bytes({2}, {1, 2}), true);
  auto bytes = distillery::test::slurp(dir.file("full.gz"));
  const std::vector<uint8_t> without_trailer(bytes.begin(), bytes.end() - 8);
  write_bytes(dir.file("cut.gz"), without_trailer);
  EXPECT_EQ(error_of([&] { dd::read_idx(dir.file("cut.gz")); }),
            dir.file("cut.gz") + ": truncated gzip stream: it ends after the 2 data bytes without "
                                 "the gzip trailer (checksum and length)");
  EXPECT_EQ(dd::read_idx(dir.file("cut.gz"), 1, 1).item<int>(), 1);  // not inflated that far
  std::vector<uint8_t> bad_checksum(bytes.begin(), bytes.end());
  bad_checksum[bad_checksum.size() - 8] ^= 0xff;
  write_bytes(dir.file("crc.gz"), bad_checksum);
  EXPECT_EQ(error_of([&] { dd::read_idx(dir.file("crc.gz")); }),
            dir.file("crc.gz") + ": corrupt gzip data (incorrect data check)");
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

// Issue 13, item 7: a 1 MB gzip file whose header promises 300 images but which inflates to
// 1 GiB is refused after inflating the promised bytes and one more, not the whole GiB.
TEST(IdxReader, GzipBombIsRefusedWithoutInflatingIt) {
  TempDir dir;
  const auto before = peak_memory_bytes();
  const auto bomb = dir.file("bomb.gz");
  distillery::test::write_gzip_then_zeros(bomb, idx_bytes({300, 28, 28}, {}), uint64_t{1} << 30);
  EXPECT_LT(std::filesystem::file_size(bomb), 2 * kMiB);  // small enough to pass the ratio bound
  EXPECT_EQ(error_of([&] { dd::read_idx(bomb, 3); }),
            bomb + ": more bytes after the 235200 data bytes the header promises");
  EXPECT_LT(peak_memory_bytes() - before, 64 * kMiB);
}

TEST(IdxReader, PlainFileSizeIsCheckedBeforeReading) {
  TempDir dir;
  const auto before = peak_memory_bytes();
  const auto big = dir.file("big");
  distillery::test::write_sparse(big, idx_bytes({300, 28, 28}, {}), 16 + 235200 + (1 << 30));
  EXPECT_EQ(error_of([&] { dd::read_idx(big, 3); }),
            big + ": 1073741824 unexpected bytes after the 235200 data bytes the header promises");
  EXPECT_LT(peak_memory_bytes() - before, 64 * kMiB);
}

TEST(IdxReader, GzipFileTooSmallForItsHeaderIsRefusedAtOnce) {
  TempDir dir;
  const auto small = dir.file("small.gz");
  write_bytes(small, idx_bytes({60000, 28, 28}, std::vector<uint8_t>(100, 7)), true);
  const auto size = std::filesystem::file_size(small);
  EXPECT_EQ(error_of([&] { dd::read_idx(small, 3); }),
            small + ": header promises 47040000 data bytes but a gzip file of " +
                std::to_string(size) + " bytes inflates to at most " + std::to_string(1032 * size) +
                " (deflate's limit is 1032:1); the file is truncated or its header is corrupt");
}

// Issue 13, item 9: dimensions whose product overflows or is absurd name the file.
TEST(IdxReader, OverflowingOrAbsurdDimensionsNameTheFile) {
  TempDir dir;
  write_bytes(dir.file("wrap"), idx_bytes({0xFFFFFFFF, 0xFFFFFFFF, 0xFFFFFFFF}, {}));
  EXPECT_EQ(error_of([&] { dd::read_idx(dir.file("wrap"), 3); }),
            dir.file("wrap") + ": IDX dimensions 4294967295 x 4294967295 x 4294967295 overflow "
                               "a 64-bit size; the header is corrupt or this is not an IDX file");
  write_bytes(dir.file("zero"), idx_bytes({65536, 65536, 65536, 65536}, {}));  // 2^64 wraps to 0
  EXPECT_EQ(error_of([&] { dd::read_idx(dir.file("zero")); }),
            dir.file("zero") + ": IDX dimensions 65536 x 65536 x 65536 x 65536 overflow a 64-bit "
                               "size; the header is corrupt or this is not an IDX file");
  write_bytes(dir.file("huge.gz"), idx_bytes({100000, 100000, 1000}, {}), true);
  EXPECT_EQ(error_of([&] { dd::read_idx(dir.file("huge.gz"), 3, 1); }),
            dir.file("huge.gz") + ": IDX dimensions 100000 x 100000 x 1000 make 10000000000000 "
                                  "data bytes, more than the 2^40 (1 TiB) this reader accepts; "
                                  "the header is corrupt or this is not an IDX file");
}

TEST(IdxReader, DanglingSymbolicLinkIsNamedAsSuch) {
  TempDir dir;
  std::filesystem::create_symlink(dir.file("gone"), dir.file("x"));
  const auto problem = dir.file("x") + " is a dangling symbolic link to " + dir.file("gone") +
                       " (nothing exists there: restore the target or point the link at the IDX "
                       "file)";
  EXPECT_EQ(error_of([&] { dd::find_idx_file(dir.path(), "x"); }),
            "data file not usable: " + problem + "; " + dir.file("x.gz") + " does not exist");
  EXPECT_EQ(error_of([&] { dd::read_idx(dir.file("x")); }), problem);
}

// A FIFO is refused without being opened for a blocking read (the test would hang).
TEST(IdxReader, FifoIsRefusedWithoutBlocking) {
  TempDir dir;
  ASSERT_EQ(::mkfifo(dir.file("x").c_str(), 0600), 0) << std::strerror(errno);
  const auto problem = dir.file("x") +
                       " is a FIFO, not a regular file (replace it by the IDX file, plain or gzip)";
  EXPECT_EQ(error_of([&] { dd::find_idx_file(dir.path(), "x"); }),
            "data file not usable: " + problem + "; " + dir.file("x.gz") + " does not exist");
  EXPECT_EQ(error_of([&] { dd::read_idx(dir.file("x")); }), problem);
  std::filesystem::create_symlink(dir.file("x"), dir.file("link"));
  EXPECT_EQ(error_of([&] { dd::read_idx(dir.file("link")); }),
            dir.file("link") + " (a symbolic link to " + dir.file("x") +
                ") is a FIFO, not a regular file (replace it by the IDX file, plain or gzip)");
}

TEST(IdxReader, DirectoryAndSocketAreRefusedAsNotRegularFiles) {
  TempDir dir;
  std::filesystem::create_directory(dir.file("x"));
  const auto not_regular = [](const std::string& path, const std::string& kind) {
    return path + " is a " + kind +
           ", not a regular file (replace it by the IDX file, plain or gzip)";
  };
  EXPECT_EQ(error_of([&] { dd::read_idx(dir.file("x")); }), not_regular(dir.file("x"), "directory"));
  const int sock = ::socket(AF_UNIX, SOCK_STREAM, 0);
  ASSERT_GE(sock, 0);
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  std::strncpy(address.sun_path, dir.file("x.gz").c_str(), sizeof(address.sun_path) - 1);
  ASSERT_EQ(::bind(sock, reinterpret_cast<sockaddr*>(&address), sizeof(address)), 0);
  EXPECT_EQ(error_of([&] { dd::find_idx_file(dir.path(), "x"); }),
            "data file not usable: " + not_regular(dir.file("x"), "directory") + "; " +
                not_regular(dir.file("x.gz"), "socket"));
  EXPECT_EQ(error_of([&] { dd::read_idx(dir.file("x.gz")); }),
            not_regular(dir.file("x.gz"), "socket"));
  ::close(sock);
  // A usable file next to an unusable one is found, as before.
  std::filesystem::remove(dir.file("x.gz"));
  write_bytes(dir.file("x.gz"), idx_bytes({1}, {0}), true);
  EXPECT_EQ(dd::find_idx_file(dir.path(), "x"), dir.file("x.gz"));
}

// Issue 13, item 10: a limit reads the first records only; they equal those of a whole read.
TEST(IdxReader, LimitReadsTheFirstRecords) {
  TempDir dir;
  std::vector<uint8_t> pixels(5 * 3 * 4);
  for (std::size_t i = 0; i < pixels.size(); ++i) pixels[i] = static_cast<uint8_t>(i * 3);
  for (const bool gzip : {false, true}) {
    const auto path = dir.file(gzip ? "images.gz" : "images");
    write_bytes(path, idx_bytes({5, 3, 4}, pixels), gzip);
    const auto whole = dd::read_idx(path, 3);
    const auto first = dd::read_idx(path, 3, 2);
    EXPECT_EQ(first.sizes(), (std::vector<int64_t>{2, 3, 4}));
    EXPECT_TRUE(torch::equal(first, whole.narrow(0, 0, 2)));
    EXPECT_TRUE(torch::equal(dd::read_idx(path, 3, 99), whole));  // clipped to the count
    EXPECT_TRUE(torch::equal(dd::read_idx(path, 3, 5), whole));
    EXPECT_EQ(dd::read_idx(path, 3, 0).sizes(), (std::vector<int64_t>{0, 3, 4}));
    EXPECT_EQ(dd::read_idx_dimensions(path, 3), (std::vector<int64_t>{5, 3, 4}));
  }
  EXPECT_EQ(distillery::test::error_of_type<c10::Error>(
                [&] { dd::read_idx(dir.file("images"), 3, -2); }),
            "read_idx: max_items must be -1 (all) or >= 0, got -2");
}

TEST(IdxReader, LimitChecksWhatItReads) {
  TempDir dir;
  // 10 images promised, 1000 bytes held: one whole image and part of the second.
  const auto short_data = idx_bytes({10, 28, 28}, std::vector<uint8_t>(1000, 5));
  write_bytes(dir.file("short"), short_data);
  write_bytes(dir.file("short.gz"), short_data, true);
  const auto truncated = [&](const std::string& name) {
    return dir.file(name) + ": truncated: header promises 7840 data bytes but the file holds 1000";
  };
  // A plain file's size is checked from stat even for one record.
  EXPECT_EQ(error_of([&] { dd::read_idx(dir.file("short"), 3, 1); }), truncated("short"));
  // A gzip file is inflated only as far as the records asked for.
  EXPECT_EQ(dd::read_idx(dir.file("short.gz"), 3, 1).sum().item<int64_t>(), 5 * 784);
  EXPECT_EQ(error_of([&] { dd::read_idx(dir.file("short.gz"), 3, 2); }), truncated("short.gz"));
  // Trailing bytes of a gzip file are found when all records are read, limit or not.
  write_bytes(dir.file("long.gz"), idx_bytes({2}, {1, 2, 3}), true);
  EXPECT_EQ(dd::read_idx(dir.file("long.gz"), 1, 1).item<int>(), 1);
  const auto trailing = dir.file("long.gz") + ": more bytes after the 2 data bytes the header promises";
  EXPECT_EQ(error_of([&] { dd::read_idx(dir.file("long.gz"), 1, 2); }), trailing);
  EXPECT_EQ(error_of([&] { dd::read_idx(dir.file("long.gz"), 1); }), trailing);
}

}  // namespace

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <filesystem>
#include <fstream>

#include "distillery/data/cifar.h"
#include "test_util.h"

namespace dd = distillery::data;
using distillery::test::TempDir;
using distillery::test::write_bytes;

namespace {

// The pixel byte `offset` (0..3071, channel-major) of record `index` in the files below.
uint8_t pixel_of(int64_t index, int64_t offset) {
  return static_cast<uint8_t>((index * 31 + offset * 7) % 256);
}

// Records `first` .. `first + count - 1` in CIFAR binary layout with the given label bytes.
std::vector<uint8_t> records(int64_t first, int64_t count,
                             const std::function<std::vector<uint8_t>(int64_t)>& label_bytes) {
  std::vector<uint8_t> bytes;
  for (int64_t i = first; i < first + count; ++i) {
    for (const auto label : label_bytes(i)) bytes.push_back(label);
    for (int64_t offset = 0; offset < 3072; ++offset) bytes.push_back(pixel_of(i, offset));
  }
  return bytes;
}

uint8_t cifar10_label(int64_t index) { return static_cast<uint8_t>((index * 3) % 10); }

// data_batch_1..5.bin with 2, 1, 1, 1, 3 records (8 in all) and test_batch.bin with 2.
void write_cifar10(const std::string& dir) {
  std::filesystem::create_directories(dir);
  const std::vector<int64_t> counts = {2, 1, 1, 1, 3};
  int64_t first = 0;
  const auto label = [](int64_t i) { return std::vector<uint8_t>{cifar10_label(i)}; };
  for (int b = 0; b < 5; ++b) {
    write_bytes(dir + "/data_batch_" + std::to_string(b + 1) + ".bin", records(first, counts[b], label));
    first += counts[b];
  }
  write_bytes(dir + "/test_batch.bin", records(100, 2, label));
}

void write_text(const std::string& path, const std::string& text) {
  std::ofstream(path) << text;
}

void expect_pixels(const dd::Dataset& set, int64_t first_index) {
  for (int64_t i = 0; i < set.size(); ++i) {
    for (const int64_t offset : {0, 1, 31, 32, 1023, 1024, 2047, 2048, 3071}) {
      const int64_t c = offset / 1024, y = offset % 1024 / 32, x = offset % 32;
      ASSERT_EQ(set.images[i][c][y][x].item<int>(), pixel_of(first_index + i, offset))
          << "image " << i << " offset " << offset;
    }
  }
}

TEST(CifarReader, ReadsCifar10TrainingBatchesInOrder) {
  TempDir dir;
  write_cifar10(dir.path());
  const auto set = dd::load_cifar10(dir.path(), dd::Split::kTrain);
  EXPECT_EQ(set.images.sizes(), (std::vector<int64_t>{8, 3, 32, 32}));
  EXPECT_EQ(set.images.scalar_type(), torch::kUInt8);
  EXPECT_TRUE(torch::equal(set.labels, torch::tensor({0, 3, 6, 9, 2, 5, 8, 1}, torch::kInt64)));
  expect_pixels(set, 0);
  EXPECT_EQ(set.num_classes, 10);
  EXPECT_EQ(set.name, "cifar10");
  EXPECT_EQ(set.class_names, dd::cifar10_class_names());
  EXPECT_EQ(set.class_names[0], "airplane");
  EXPECT_EQ(set.class_names[9], "truck");
  ASSERT_TRUE(set.normalization.has_value());
  EXPECT_EQ(set.normalization->mean, (std::vector<double>{0.4914, 0.4822, 0.4465}));
  EXPECT_EQ(set.normalization->std, (std::vector<double>{0.2470, 0.2435, 0.2616}));
  const auto test = dd::load_cifar10(dir.path(), dd::Split::kTest);
  EXPECT_TRUE(torch::equal(test.labels, torch::tensor({0, 3}, torch::kInt64)));
  expect_pixels(test, 100);
}

TEST(CifarReader, AcceptsTheArchiveFolderAndItsClassNames) {
  TempDir dir;
  const auto nested = dir.file("cifar-10-batches-bin");
  write_cifar10(nested);
  write_text(nested + "/batches.meta.txt", "a0\na1\na2\na3\na4\na5\na6\na7\na8\n  a9 \n\n\n");
  const auto set = dd::load_cifar10(dir.path(), dd::Split::kTest);
  EXPECT_EQ(set.size(), 2);
  EXPECT_EQ(set.class_names,
            (std::vector<std::string>{"a0", "a1", "a2", "a3", "a4", "a5", "a6", "a7", "a8", "a9"}));
  EXPECT_EQ(dd::load_cifar10(nested, dd::Split::kTest).class_names, set.class_names);
  write_text(nested + "/batches.meta.txt", "one\ntwo\n");
  EXPECT_EQ(distillery::test::runtime_error_of([&] { dd::load_cifar10(dir.path(), dd::Split::kTest); }),
            nested + "/batches.meta.txt: 2 class names, expected 10 for CIFAR-10 (one a line; "
                     "delete the file to use the built-in names)");
}

TEST(CifarReader, LimitReadsTheFirstRecordsAcrossFiles) {
  TempDir dir;
  write_cifar10(dir.path());
  const auto whole = dd::load_cifar10(dir.path(), dd::Split::kTrain);
  const auto first = dd::load_cifar10(dir.path(), dd::Split::kTrain, dd::kCifar10Normalization, 3);
  ASSERT_EQ(first.size(), 3);
  EXPECT_TRUE(torch::equal(first.images, whole.images.narrow(0, 0, 3)));
  EXPECT_TRUE(torch::equal(first.labels, whole.labels.narrow(0, 0, 3)));
  EXPECT_EQ(dd::load_cifar10(dir.path(), dd::Split::kTrain, dd::kCifar10Normalization, 50).size(), 8);
  EXPECT_EQ(distillery::test::error_of_type<c10::Error>(
                [&] { dd::load_cifar10(dir.path(), dd::Split::kTrain, dd::kCifar10Normalization, -1); }),
            "load_cifar10: limit must be >= 0 (0 = all), got -1");
  EXPECT_EQ(distillery::test::error_of_type<std::invalid_argument>([&] {
              dd::load_cifar10(dir.path(), dd::Split::kTest, dd::Normalization({0.5, 0.5}, {1, 1}));
            }),
            "a normalization of 2 means and 2 standard deviations for 3 channel(s): give one value "
            "of each, or one per channel");
}

TEST(CifarReader, ReadsCifar100FineAndCoarseLabels) {
  TempDir dir;
  const auto folder = dir.file("cifar-100-binary");
  std::filesystem::create_directories(folder);
  const auto labels = [](int64_t i) {
    return std::vector<uint8_t>{static_cast<uint8_t>(19 - i), static_cast<uint8_t>(99 - 2 * i)};
  };
  write_bytes(folder + "/train.bin", records(0, 4, labels));
  write_bytes(folder + "/test.bin", records(10, 1, labels));
  const auto fine = dd::load_cifar100(dir.path(), dd::Split::kTrain);
  EXPECT_EQ(fine.images.sizes(), (std::vector<int64_t>{4, 3, 32, 32}));
  EXPECT_TRUE(torch::equal(fine.labels, torch::tensor({99, 97, 95, 93}, torch::kInt64)));
  expect_pixels(fine, 0);
  EXPECT_EQ(fine.num_classes, 100);
  EXPECT_EQ(fine.name, "cifar100");
  ASSERT_EQ(fine.class_names.size(), 100u);
  EXPECT_EQ(fine.class_names[0], "apple");
  EXPECT_EQ(fine.class_names[99], "worm");
  EXPECT_EQ(fine.normalization->mean, (std::vector<double>{0.5071, 0.4867, 0.4408}));
  const auto coarse = dd::load_cifar100(dir.path(), dd::Split::kTest, dd::CifarLabels::kCoarse);
  EXPECT_TRUE(torch::equal(coarse.labels, torch::tensor({9}, torch::kInt64)));
  expect_pixels(coarse, 10);
  EXPECT_EQ(coarse.num_classes, 20);
  EXPECT_EQ(coarse.name, "cifar100-coarse");
  ASSERT_EQ(coarse.class_names.size(), 20u);
  EXPECT_EQ(coarse.class_names[0], "aquatic_mammals");
  EXPECT_EQ(coarse.class_names[19], "vehicles_2");
  std::string names;
  for (int k = 0; k < 20; ++k) names += "super" + std::to_string(k) + "\n";
  write_text(folder + "/coarse_label_names.txt", names);
  EXPECT_EQ(dd::load_cifar100(dir.path(), dd::Split::kTest, dd::CifarLabels::kCoarse).class_names[7],
            "super7");
}

TEST(CifarReader, RejectsFilesThatAreNotWholeRecords) {
  TempDir dir;
  write_cifar10(dir.path());
  auto bytes = records(0, 1, [](int64_t) { return std::vector<uint8_t>{1}; });
  bytes.push_back(0);
  bytes.push_back(0);
  write_bytes(dir.file("test_batch.bin"), bytes);
  EXPECT_EQ(distillery::test::runtime_error_of([&] { dd::load_cifar10(dir.path(), dd::Split::kTest); }),
            dir.file("test_batch.bin") +
                ": 3075 bytes is not a whole number of 3073-byte CIFAR-10 records (1 record and 2 "
                "bytes more; the file is truncated or not CIFAR-10 binary)");
  write_bytes(dir.file("test_batch.bin"), {});
  EXPECT_EQ(distillery::test::runtime_error_of([&] { dd::load_cifar10(dir.path(), dd::Split::kTest); }),
            dir.file("test_batch.bin") + ": empty file (no CIFAR-10 records)");
  // A CIFAR-10 file read as CIFAR-100: 2 x 3073 bytes are not whole 3074-byte records.
  write_bytes(dir.file("test.bin"), records(0, 2, [](int64_t) { return std::vector<uint8_t>{1}; }));
  EXPECT_EQ(distillery::test::runtime_error_of([&] { dd::load_cifar100(dir.path(), dd::Split::kTest); }),
            dir.file("test.bin") +
                ": 6146 bytes is not a whole number of 3074-byte CIFAR-100 records (1 record and "
                "3072 bytes more; the file is truncated or not CIFAR-100 binary)");
}

TEST(CifarReader, RejectsLabelsOutsideTheClasses) {
  TempDir dir;
  write_bytes(dir.file("test_batch.bin"), records(0, 3, [](int64_t i) {
                return std::vector<uint8_t>{static_cast<uint8_t>(i == 2 ? 10 : 1)};
              }));
  EXPECT_EQ(distillery::test::runtime_error_of([&] { dd::load_cifar10(dir.path(), dd::Split::kTest); }),
            dir.file("test_batch.bin") + ": record 2 has label 10, outside [0, 10) (the file is not "
                                         "CIFAR-10 binary, or is corrupt)");
  // The limit stops before the bad record.
  EXPECT_EQ(dd::load_cifar10(dir.path(), dd::Split::kTest, dd::kCifar10Normalization, 2).size(), 2);
  write_bytes(dir.file("train.bin"), records(0, 2, [](int64_t i) {
                return std::vector<uint8_t>{static_cast<uint8_t>(i == 1 ? 20 : 0), 5};
              }));
  // Both label bytes are checked, whichever is kept.
  EXPECT_EQ(distillery::test::runtime_error_of([&] { dd::load_cifar100(dir.path(), dd::Split::kTrain); }),
            dir.file("train.bin") + ": record 1 has coarse label 20, outside [0, 20) (the file is "
                                    "not CIFAR-100 binary, or is corrupt)");
}

TEST(CifarReader, NamesTheMissingFileAndHowToGetIt) {
  TempDir dir;
  write_cifar10(dir.path());
  std::filesystem::remove(dir.file("data_batch_4.bin"));
  EXPECT_EQ(distillery::test::runtime_error_of([&] { dd::load_cifar10(dir.path(), dd::Split::kTrain); }),
            dir.file("data_batch_4.bin") + ": CIFAR-10 file not found (expected in " + dir.path() +
                " or " + dir.file("cifar-10-batches-bin") +
                "; download the data with scripts/fetch_data.sh cifar10 " + dir.path() + ")");
  EXPECT_EQ(dd::load_cifar10(dir.path(), dd::Split::kTest).size(), 2);  // the test split is whole
  EXPECT_EQ(distillery::test::runtime_error_of([&] { dd::load_cifar100(dir.path(), dd::Split::kTest); }),
            dir.file("test.bin") + ": CIFAR-100 file not found (expected in " + dir.path() + " or " +
                dir.file("cifar-100-binary") +
                "; download the data with scripts/fetch_data.sh cifar100 " + dir.path() + ")");
  std::filesystem::create_directory(dir.file("test.bin"));
  EXPECT_EQ(distillery::test::runtime_error_of([&] { dd::load_cifar100(dir.path(), dd::Split::kTest); }),
            dir.file("test.bin") + " is not a regular file (replace it by the CIFAR-100 binary file)");
  write_bytes(dir.file("plain"), {1});
  EXPECT_EQ(distillery::test::runtime_error_of([&] { dd::load_cifar10(dir.file("plain"), dd::Split::kTest); }),
            dir.file("plain") + " is not a directory; point the data directory at the folder "
                                "holding the CIFAR-10 files");
}

TEST(CifarReader, BuiltInClassNamesHaveTheDatasetCounts) {
  EXPECT_EQ(dd::cifar10_class_names().size(), 10u);
  const auto fine = dd::cifar100_class_names(dd::CifarLabels::kFine);
  ASSERT_EQ(fine.size(), 100u);
  EXPECT_TRUE(std::is_sorted(fine.begin(), fine.end()));  // the dataset's order is alphabetical
  EXPECT_EQ(fine[55], "otter");
  const auto coarse = dd::cifar100_class_names(dd::CifarLabels::kCoarse);
  ASSERT_EQ(coarse.size(), 20u);
  EXPECT_TRUE(std::is_sorted(coarse.begin(), coarse.end()));
}

}  // namespace

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <chrono>
#include <filesystem>
#include <thread>

#include "distillery/data/prefetcher.h"
#include "test_util.h"

namespace dd = distillery::data;

namespace {

std::string error_of(const std::function<void()>& f) {
  return distillery::test::error_of_type<c10::Error>(f);
}

TEST(RowPrefetcher, GathersTheSameRowsAsIndexSelectBatchAfterBatch) {
  const auto rows = torch::randn({50, 1, 3, 4});
  dd::RowPrefetcher prefetch(rows);
  const auto order = torch::randperm(50, torch::kInt64);
  prefetch.request(order.narrow(0, 0, 16));
  for (int64_t start = 0; start < 50; start += 16) {
    const auto indices = order.narrow(0, start, std::min<int64_t>(16, 50 - start));
    const auto batch = prefetch.take();
    if (start + 16 < 50) {
      prefetch.request(order.narrow(0, start + 16, std::min<int64_t>(16, 50 - start - 16)));
    }
    ASSERT_EQ(batch.sizes(), (std::vector<int64_t>{indices.size(0), 1, 3, 4}));
    EXPECT_TRUE(torch::equal(batch, rows.index_select(0, indices)));  // bit for bit
  }
}

TEST(RowPrefetcher, GathersAnyDtypeAndRepeatedIndices) {
  const auto rows = torch::arange(60, torch::kUInt8).view({20, 3});
  dd::RowPrefetcher prefetch(rows);
  const auto indices = torch::tensor({19, 0, 0, 7}, torch::kInt64);
  prefetch.request(indices);
  const auto batch = prefetch.take();
  EXPECT_EQ(batch.scalar_type(), torch::kUInt8);
  EXPECT_TRUE(torch::equal(batch, torch::tensor({{57, 58, 59}, {0, 1, 2}, {0, 1, 2}, {21, 22, 23}},
                                                torch::kUInt8)));
}

TEST(RowPrefetcher, NeverOverwritesABatchTheCallerStillHolds) {
  const auto rows = torch::arange(40, torch::kFloat32).view({10, 4});
  dd::RowPrefetcher prefetch(rows);
  prefetch.request(torch::tensor({1, 2}, torch::kInt64));
  const auto kept = prefetch.take();  // the tensor itself, held across the next two batches
  prefetch.request(torch::tensor({7, 8}, torch::kInt64));
  const auto view = prefetch.take().select(0, 1);  // only a view of this one
  for (int64_t i : {3, 5, 6}) {
    prefetch.request(torch::tensor({i, i}, torch::kInt64));
    const auto batch = prefetch.take();
    EXPECT_TRUE(torch::equal(batch, rows.index_select(0, torch::tensor({i, i}))));
  }
  EXPECT_TRUE(torch::equal(kept, rows.narrow(0, 1, 2)));
  EXPECT_TRUE(torch::equal(view, rows[8]));
}

TEST(RowPrefetcher, TheCallerMayReuseItsIndicesAtOnce) {
  const auto rows = torch::arange(40, torch::kFloat32).view({10, 4});
  dd::RowPrefetcher prefetch(rows);
  auto indices = torch::tensor({1, 2, 3}, torch::kInt64);
  prefetch.request(indices);
  indices.fill_(9);  // e.g. a sampler refilling its buffer
  EXPECT_TRUE(torch::equal(prefetch.take(), rows.narrow(0, 1, 3)));
}

TEST(RowPrefetcher, ReusesItsTwoBuffersWhenBatchesAreReleased) {
  const auto rows = torch::randn({10, 4});
  dd::RowPrefetcher prefetch(rows);
  std::vector<const void*> addresses;
  for (int i = 0; i < 6; ++i) {
    prefetch.request(torch::tensor({i, i + 1}, torch::kInt64));
    addresses.push_back(prefetch.take().data_ptr());  // released at once
  }
  EXPECT_EQ(addresses[0], addresses[2]);
  EXPECT_EQ(addresses[1], addresses[3]);
  EXPECT_EQ(addresses[2], addresses[4]);
  EXPECT_NE(addresses[0], addresses[1]);
}

TEST(RowPrefetcher, OutOfRangeIndexIsRefusedByRequest) {
  dd::RowPrefetcher prefetch(torch::zeros({5, 2}));
  EXPECT_EQ(error_of([&] { prefetch.request(torch::tensor({0, 5}, torch::kInt64)); }),
            "RowPrefetcher: index 5 at position 1 is out of range for 5 rows");
  EXPECT_EQ(error_of([&] { prefetch.request(torch::tensor({-1}, torch::kInt64)); }),
            "RowPrefetcher: index -1 at position 0 is out of range for 5 rows");
  // Nothing is outstanding after a refused request; the prefetcher is still usable.
  EXPECT_EQ(error_of([&] { prefetch.take(); }), "RowPrefetcher: take() without a request");
  prefetch.request(torch::tensor({4}, torch::kInt64));
  EXPECT_EQ(prefetch.take().sizes(), (std::vector<int64_t>{1, 2}));
}

TEST(RowPrefetcher, EmptyRequestGivesAnEmptyBatch) {
  dd::RowPrefetcher prefetch(torch::zeros({5, 2, 3}));
  prefetch.request(torch::empty({0}, torch::kInt64));
  EXPECT_EQ(prefetch.take().sizes(), (std::vector<int64_t>{0, 2, 3}));
}

TEST(RowPrefetcher, ManyBatchesOfDifferentSizesStayExact) {
  // Exercises the hand-over: the caller and the background thread share each batch's chunks.
  const auto rows = torch::randn({3000, 7});
  dd::RowPrefetcher prefetch(rows);
  auto gen = at::make_generator<at::CPUGeneratorImpl>(3);
  std::vector<torch::Tensor> requested;
  for (int i = 0; i < 2000; ++i) requested.push_back(torch::randint(3000, {1 + i % 300}, gen));
  prefetch.request(requested[0]);
  for (std::size_t i = 0; i < requested.size(); ++i) {
    const auto batch = prefetch.take();
    if (i + 1 < requested.size()) prefetch.request(requested[i + 1]);
    ASSERT_TRUE(torch::equal(batch, rows.index_select(0, requested[i]))) << "batch " << i;
  }
}

TEST(RowPrefetcher, MisuseIsRefusedWithTheRule) {
  dd::RowPrefetcher prefetch(torch::zeros({5, 2}));
  EXPECT_EQ(error_of([&] { prefetch.take(); }),
            "RowPrefetcher: take() without a request");
  EXPECT_EQ(error_of([&] { prefetch.request(torch::tensor({1.0})); }),
            "RowPrefetcher: indices must be a 1-D int64 CPU tensor");
  prefetch.request(torch::tensor({1}, torch::kInt64));
  EXPECT_EQ(error_of([&] { prefetch.request(torch::tensor({2}, torch::kInt64)); }),
            "RowPrefetcher: take() the outstanding batch before requesting");
  EXPECT_TRUE(torch::equal(prefetch.take(), torch::zeros({1, 2})));
  EXPECT_EQ(error_of([&] { dd::RowPrefetcher(torch::zeros({4, 6}).t()); }),
            "RowPrefetcher: rows must be contiguous");
  EXPECT_EQ(error_of([&] { dd::RowPrefetcher(torch::zeros({})); }),
            "RowPrefetcher: rows must have a dimension");
}

#if defined(__linux__)
// Threads of this process, as the kernel lists them.
int64_t thread_count() {
  int64_t count = 0;
  for (const auto& entry : std::filesystem::directory_iterator("/proc/self/task")) {
    (void)entry;
    ++count;
  }
  return count;
}
#endif

TEST(RowPrefetcher, DestroyedWithARequestInFlight) {
  const auto rows = torch::randn({1000, 64});
#if defined(__linux__)
  const int64_t threads_before = thread_count();
#endif
  for (int i = 0; i < 20; ++i) {
    dd::RowPrefetcher prefetch(rows);
    prefetch.request(torch::randint(1000, {256}, torch::kInt64));
    EXPECT_EQ(rows.use_count(), 2);  // the prefetcher holds the rows
  }  // the destructor waits for the gather and stops the thread
  EXPECT_EQ(rows.use_count(), 1);  // every prefetcher let go of them
#if defined(__linux__)
  // Every background thread was stopped and joined: the count comes back to what it was (a
  // joined thread may stay listed for a moment while the kernel finishes its exit).
  int64_t threads_after = thread_count();
  for (int wait = 0; wait < 100 && threads_after != threads_before; ++wait) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    threads_after = thread_count();
  }
  EXPECT_EQ(threads_after, threads_before);
#endif
}

}  // namespace

#include "distillery/data/prefetcher.h"

#include <c10/util/Exception.h>

#if defined(__x86_64__) || defined(_M_X64)
#include <immintrin.h>
#endif

#include <algorithm>
#include <chrono>
#include <cstring>

namespace distillery::data {
namespace {

using Clock = std::chrono::steady_clock;

// How long each side polls before it sleeps on the condition variable. A step of a small
// student lasts a few hundred microseconds, and waking a sleeping thread costs about 20 of them
// on the bench machine (a VM), more than the gather the thread is there to hide.
constexpr auto kSpin = std::chrono::microseconds(500);

// Rows per claimed chunk: 8 Fashion-MNIST images are 25 KB, about 3 microseconds of copying.
constexpr int64_t kChunkRows = 8;

// Tells the core this thread is busy-waiting (lets a sibling hyper-thread run).
inline void cpu_relax() {
#if defined(__x86_64__) || defined(_M_X64)
  _mm_pause();
#elif defined(__aarch64__)
  asm volatile("yield");
#endif
}

// Polls `ready` until it returns true or kSpin has passed; returns its last answer.
template <typename Ready>
bool spin_until(const Ready& ready) {
  if (ready()) return true;
  const auto deadline = Clock::now() + kSpin;
  while (true) {
    for (int i = 0; i < 64; ++i) {
      if (ready()) return true;
      cpu_relax();
    }
    if (Clock::now() >= deadline) return ready();
  }
}

// Spins on `ready`, then sleeps on `wake` with `sleeping` raised until `ready` holds. The other
// side makes `ready` true and then calls wake_if_sleeping(sleeping, ...): with both flags
// sequentially consistent, either this side sees `ready` or that side sees `sleeping`.
template <typename Ready>
void wait_until(const Ready& ready, std::atomic<bool>& sleeping, std::mutex& mutex,
                std::condition_variable& wake) {
  if (spin_until(ready)) return;
  std::unique_lock<std::mutex> lock(mutex);
  sleeping.store(true);
  wake.wait(lock, ready);
  sleeping.store(false);
}

// Wakes the other side if it went to sleep on `wake` (it re-checks its condition under the lock).
void wake_if_sleeping(const std::atomic<bool>& sleeping, std::mutex& mutex,
                      std::condition_variable& wake) {
  if (sleeping.load()) {
    { std::lock_guard<std::mutex> lock(mutex); }
    wake.notify_all();
  }
}

}  // namespace

RowPrefetcher::RowPrefetcher(torch::Tensor rows) : rows_(std::move(rows)) {
  TORCH_CHECK(rows_.defined() && rows_.dim() >= 1, "RowPrefetcher: rows must have a dimension");
  TORCH_CHECK(rows_.device().is_cpu(), "RowPrefetcher: rows must be on the CPU, got ",
              rows_.device());
  TORCH_CHECK(rows_.is_contiguous(), "RowPrefetcher: rows must be contiguous");
  row_bytes_ = rows_.size(0) > 0 ? static_cast<int64_t>(rows_.nbytes()) / rows_.size(0) : 0;
  worker_ = std::thread([this] { run(); });
}

RowPrefetcher::~RowPrefetcher() {
  stop_.store(true);
  { std::lock_guard<std::mutex> lock(mutex_); }
  wake_.notify_all();
  worker_.join();
}

torch::Tensor RowPrefetcher::buffer_for(int64_t count) {
  auto& buffer = buffers_[next_buffer_];
  next_buffer_ = 1 - next_buffer_;
  // Reuse only a buffer nobody else holds: no other handle to the tensor (use_count) and no
  // view of it (storage().use_count()); the step that trained on it has released it.
  if (!buffer.defined() || buffer.size(0) != count || buffer.use_count() != 1 ||
      buffer.storage().use_count() != 1) {
    auto sizes = rows_.sizes().vec();
    sizes[0] = count;
    buffer = torch::empty(sizes, rows_.options());
  }
  return buffer;
}

void RowPrefetcher::request(const torch::Tensor& indices) {
  TORCH_CHECK(!outstanding_, "RowPrefetcher: take() the outstanding batch before requesting");
  TORCH_CHECK(indices.dim() == 1 && indices.scalar_type() == torch::kInt64 &&
                  indices.device().is_cpu(),
              "RowPrefetcher: indices must be a 1-D int64 CPU tensor");
  const auto contiguous = indices.contiguous();
  const auto* index = contiguous.data_ptr<int64_t>();
  const int64_t count = contiguous.size(0), n = rows_.size(0);
  for (int64_t i = 0; i < count; ++i) {
    TORCH_CHECK(index[i] >= 0 && index[i] < n, "RowPrefetcher: index ", index[i],
                " at position ", i, " is out of range for ", n, " rows");
  }
  // take() closed the previous job and waited until the worker left it: the fields are ours.
  // The indices are copied, so that the caller may reuse its tensor at once.
  job_index_.assign(index, index + count);
  job_output_ = buffer_for(count);
  job_target_ = static_cast<char*>(job_output_.data_ptr());
  job_count_ = count;
  next_row_.store(0);
  rows_done_.store(0);
  generation_.fetch_add(1);
  outstanding_ = true;
  job_open_.store(true);  // publishes the fields above
  wake_if_sleeping(worker_sleeping_, mutex_, wake_);
}

void RowPrefetcher::copy_chunks() {
  const auto* source = static_cast<const char*>(rows_.data_ptr());
  while (true) {
    const int64_t start = next_row_.fetch_add(kChunkRows);
    if (start >= job_count_) return;
    const int64_t end = std::min(start + kChunkRows, job_count_);
    for (int64_t i = start; i < end; ++i) {
      std::memcpy(job_target_ + i * row_bytes_, source + job_index_[i] * row_bytes_,
                  row_bytes_);
    }
    rows_done_.fetch_add(end - start);
  }
}

torch::Tensor RowPrefetcher::take() {
  TORCH_CHECK(outstanding_, "RowPrefetcher: take() without a request");
  copy_chunks();  // whatever the worker has not claimed yet
  // Then the chunk the worker may still be copying.
  wait_until([this] { return rows_done_.load() == job_count_; }, caller_sleeping_, mutex_,
             wake_);
  // Close the job, then wait for the worker to leave it before the fields change. Pairs with
  // run(): the worker announces busy_ before it checks job_open_ (both sequentially consistent).
  job_open_.store(false);
  wait_until([this] { return !busy_.load(); }, caller_sleeping_, mutex_, wake_);
  outstanding_ = false;
  return std::move(job_output_);
}

void RowPrefetcher::run() {
  int64_t finished = 0;  // the last job generation this thread worked on
  const auto has_work = [&] {
    return stop_.load() || (job_open_.load() && generation_.load() != finished);
  };
  while (true) {
    wait_until(has_work, worker_sleeping_, mutex_, wake_);
    if (stop_.load()) return;
    // Announce, then look: take() closes the job, then waits while busy_ (both sequentially
    // consistent), so an open job seen here keeps its fields until busy_ is cleared.
    busy_.store(true);
    if (job_open_.load()) {
      finished = generation_.load();
      copy_chunks();
      wake_if_sleeping(caller_sleeping_, mutex_, wake_);
    }
    busy_.store(false);
    wake_if_sleeping(caller_sleeping_, mutex_, wake_);  // take() may wait for busy_ to clear
  }
}

}  // namespace distillery::data

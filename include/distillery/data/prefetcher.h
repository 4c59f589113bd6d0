#pragma once
/// @file data/prefetcher.h
/// Gathers the next training batch's rows on a background thread while the current step runs,
/// so that a small student's step does not wait for memory: the loop asks for batch k + 1
/// before it trains on batch k and takes it, already gathered, at the start of step k + 1.

#include <torch/types.h>

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <thread>
#include <vector>

namespace distillery::data {

/// Double-buffered gather of rows of an in-memory CPU tensor on one background thread.
///
/// The background thread copies whole rows with `memcpy` and never enters ATen's intra-op
/// thread pool, so it adds exactly one thread to the process. The gathered rows are
/// bit-identical to `rows.index_select(0, indices)`.
///
/// A batch is copied in chunks of a few rows that either thread may claim: take() copies the
/// chunks the background thread has not reached, so when the operating system pauses that
/// thread the caller waits only for a chunk it had already claimed (or, rarely, for it to
/// step out of the job it was entering), not for the whole batch.
///
/// A buffer is reused for batch k + 2 only if nothing else still holds batch k (the tensor or
/// a view of it): a caller that keeps a batch gets a fresh buffer in its place, never
/// overwritten data. The indices are copied, so the caller may reuse them at once.
///
/// Example:
///     RowPrefetcher prefetch(train.images);
///     prefetch.request(first_indices);
///     while (...) {
///       auto batch = prefetch.take();        // [B, C, H, W], ready or finished here
///       prefetch.request(next_indices);      // gathered while this step trains on `batch`
///       ...
///     }
class RowPrefetcher {
 public:
  /// @param rows `[N, ...]` contiguous CPU tensor of any dtype (the data set's images); it is
  /// only read, and must not be written while the prefetcher lives. Throws c10::Error if it is
  /// not on the CPU, not contiguous, or has no dimension.
  explicit RowPrefetcher(torch::Tensor rows);
  /// Waits for a gather in flight, then stops the background thread.
  ~RowPrefetcher();
  RowPrefetcher(const RowPrefetcher&) = delete;
  RowPrefetcher& operator=(const RowPrefetcher&) = delete;

  /// Starts gathering `indices` (`[B]` int64 CPU, each in [0, N)) in the background. At most one
  /// request is outstanding: it must be collected with take() before the next request.
  /// Throws c10::Error if a request is already outstanding, if `indices` is not 1-D int64 on
  /// the CPU, or if an index is out of range (naming it and its position).
  void request(const torch::Tensor& indices);

  /// Finishes the outstanding request (copying what the background thread has not) and returns
  /// its rows, `[B, ...]` with the dtype of `rows`. Throws c10::Error if nothing was requested.
  torch::Tensor take();

 private:
  void run();
  // Copies chunks of the open job until none is left to claim.
  void copy_chunks();
  torch::Tensor buffer_for(int64_t count);

  torch::Tensor rows_;
  int64_t row_bytes_;
  torch::Tensor buffers_[2];
  int next_buffer_ = 0;

  // The job: written by request() while job_open_ is false and the worker is not busy_, then
  // published by job_open_ = true; chunks are claimed through next_row_.
  std::vector<int64_t> job_index_;
  char* job_target_ = nullptr;
  int64_t job_count_ = 0;
  torch::Tensor job_output_;
  std::atomic<int64_t> generation_{0}, next_row_{0}, rows_done_{0};
  std::atomic<bool> job_open_{false}, busy_{false}, stop_{false};
  bool outstanding_ = false;

  // Each side spins for a short while before sleeping, because waking a sleeping thread costs
  // tens of microseconds in a VM.
  std::mutex mutex_;
  std::condition_variable wake_;
  std::atomic<bool> worker_sleeping_{false}, caller_sleeping_{false};
  std::thread worker_;
};

}  // namespace distillery::data

#include "distillery/runtime.h"

#include <cstdlib>
#include <mutex>
#include <thread>

#if defined(__GLIBC__)
#include <malloc.h>
#endif
#if defined(__linux__)
#include <sched.h>
#endif

namespace distillery {

bool retain_freed_memory() noexcept {
  static std::once_flag once;
  static bool applied = false;
  std::call_once(once, [] {
#if defined(__GLIBC__)
    for (const char* chosen : {"MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_", "GLIBC_TUNABLES"}) {
      if (std::getenv(chosen) != nullptr) return;
    }
    constexpr int kMiB = 1 << 20;
    const bool mmap_set = mallopt(M_MMAP_THRESHOLD, 32 * kMiB) == 1;
    const bool trim_set = mallopt(M_TRIM_THRESHOLD, 128 * kMiB) == 1;
    applied = mmap_set && trim_set;
#endif
  });
  return applied;
}

int64_t available_cpus() noexcept {
#if defined(__linux__)
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof(set), &set) == 0) return CPU_COUNT(&set);
#endif
  return std::thread::hardware_concurrency();
}

}  // namespace distillery

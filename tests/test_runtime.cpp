// Process-wide settings (runtime.h): what retain_freed_memory() changes in glibc's malloc.
// (Its return value is checked in test_trainer.cpp, Runtime.RetainFreedMemoryAppliesOnce...)

#include <gtest/gtest.h>

#include <cstdlib>
#include <cstring>

#include "distillery/runtime.h"

#if defined(__GLIBC__)
#include <malloc.h>
#endif

namespace {

#if defined(__GLIBC__) && __GLIBC_PREREQ(2, 33)
TEST(Runtime, RetainedSettingsServeLargeBlocksFromTheHeapAndKeepThemAfterFree) {
  if (!distillery::retain_freed_memory()) {
    GTEST_SKIP() << "malloc settings chosen through the environment are left alone";
  }
  EXPECT_TRUE(distillery::retain_freed_memory());  // a second call reports the same
  // 16 MiB: glibc's defaults map a block this large on its own (mmap threshold 128 KiB, rising
  // to at most 32 MiB) and give it back at free; below the 32 MiB threshold set, it comes from
  // the heap and stays there, under the 128 MiB trim threshold, for the next step.
  constexpr std::size_t kBlock = std::size_t{16} << 20;
  const struct mallinfo2 before = mallinfo2();
  char* volatile block = static_cast<char*>(std::malloc(kBlock));
  ASSERT_NE(block, nullptr);
  std::memset(block, 1, kBlock);
  const struct mallinfo2 during = mallinfo2();
  EXPECT_EQ(during.hblks, before.hblks);                 // no mapping of its own
  EXPECT_GE(during.uordblks, before.uordblks + kBlock);  // in use from the heap
  std::free(block);
  const struct mallinfo2 after = mallinfo2();
  EXPECT_EQ(after.arena, during.arena);  // the heap was not trimmed
  EXPECT_GE(after.fordblks, kBlock);     // the block is free for reuse
}
#endif

}  // namespace

#pragma once
/// @file runtime.h
/// Process-wide settings that make CPU training fast, and the CPUs the process may use.

#include <cstdint>

namespace distillery {

/// Makes glibc's malloc keep freed memory for reuse instead of handing it back to the kernel:
/// blocks up to 32 MiB come from the heap (M_MMAP_THRESHOLD = 32 MiB, glibc's maximum) and the
/// heap is trimmed only when more than 128 MiB is free at its top (M_TRIM_THRESHOLD).
///
/// LibTorch allocates a step's activations and gradients with malloc and frees them when the
/// step ends. With glibc's defaults, blocks of a few MiB (a ConvNet teacher's activations on a
/// batch of 128: 12.8 MiB) are mapped and unmapped, or trimmed, at every step, and every page
/// is faulted in and zeroed again the next step, which slows training down several-fold
/// (bench/RESULTS.md). The cost is that the process's resident
/// memory shrinks less after a peak: up to 128 MiB free at the top of each malloc arena (one
/// per thread that allocates, at most a few) stays mapped.
///
/// A program calls it once, after loading its data sets and before training (the `distillery`
/// program, through the application layer's `load_experiment_data`, the examples and the
/// benchmarks do; the core library never calls it, as it changes the whole process). Called
/// before the data sets are loaded, online distillation was measurably slower
/// (bench/RESULTS.md). Calling it again does nothing. It leaves malloc alone when the user has
/// chosen settings (any of the environment variables MALLOC_MMAP_THRESHOLD_,
/// MALLOC_TRIM_THRESHOLD_ or GLIBC_TUNABLES is set) and on C libraries other than glibc.
/// @returns whether the settings were applied (now or by an earlier call). Never throws.
bool retain_freed_memory() noexcept;

/// Number of CPUs the calling thread may run on: the size of its affinity mask on Linux (so
/// `taskset` and cpusets count; CPU quotas of containers do not), elsewhere
/// std::thread::hardware_concurrency() (0 when unknown). TrainerOptions::prefetch needs 2.
/// Never throws.
int64_t available_cpus() noexcept;

}  // namespace distillery

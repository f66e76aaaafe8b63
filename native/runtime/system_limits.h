// What the system lets this process have: CPUs under a cgroup quota, and the
// most memory that could ever back one buffer. Read from Linux's /proc and
// /sys files; elsewhere the answers say "no limit known".
#pragma once

#include <cstddef>
#include <string>
#include <vector>

namespace tapegrad::runtime {

// The whitespace-separated tokens of a small file (none when it cannot be read).
std::vector<std::string> read_tokens(const std::string& path);

// CPUs a cgroup quota allows (rounded up), or 0 when there is no quota.
int cgroup_cpu_limit();

// Physical memory plus swap, or a cgroup's memory limit plus the swap it may
// use when that is less: no buffer larger than this can ever be backed.
// SIZE_MAX where it cannot be read. Read once.
std::size_t memory_ceiling();

}  // namespace tapegrad::runtime

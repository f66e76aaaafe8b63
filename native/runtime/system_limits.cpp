#include "runtime/system_limits.h"

#include <algorithm>
#include <cstdint>
#include <fstream>

#if defined(__linux__)
#include <sys/sysinfo.h>
#endif

namespace tapegrad::runtime {

namespace {

long long to_long(const std::string& s, long long fallback) {
  try {
    return std::stoll(s);
  } catch (...) {
    return fallback;
  }
}

// CPUs a CFS quota of `quota` per `period` (text, microseconds) allows,
// rounded up; 0 for no quota or one that does not parse.
int cpus_of_quota(const std::string& quota, const std::string& period) {
  const long long q = to_long(quota, 0), p = to_long(period, 0);
  return q > 0 && p > 0 ? static_cast<int>((q + p - 1) / p) : 0;
}

// This process's cgroup v2 group ("/..." or "" at the root).
std::string cgroup_v2_group() {
  std::ifstream in("/proc/self/cgroup");
  std::string line, group;
  while (std::getline(in, line))
    if (line.rfind("0::", 0) == 0) group = line.substr(3);
  return group;
}

// The tokens of a cgroup v2 interface file of this process's group, or of the
// root when the group's path is not visible (inside a container's namespace).
std::vector<std::string> cgroup_v2_tokens(const std::string& group, const char* file) {
  for (const std::string& path : {"/sys/fs/cgroup" + group + "/" + file, "/sys/fs/cgroup/" + std::string(file)}) {
    auto t = read_tokens(path);
    if (!t.empty()) return t;
  }
  return {};
}

std::size_t read_memory_ceiling() {
#if defined(__linux__)
  struct sysinfo info {};
  if (sysinfo(&info) != 0 || info.totalram == 0) return SIZE_MAX;
  const unsigned long long unit = info.mem_unit ? info.mem_unit : 1;
  const unsigned long long swap = static_cast<unsigned long long>(info.totalswap) * unit;
  unsigned long long ceiling = static_cast<unsigned long long>(info.totalram) * unit + swap;
  // A cgroup limit below that ends in its OOM killer too. v2: memory.max and
  // memory.swap.max ("max" when unlimited); v1: memory.limit_in_bytes (a huge
  // number when unlimited), with the system's swap.
  const std::string group = cgroup_v2_group();
  long long limit = -1, cgroup_swap = -1;
  if (const auto t = cgroup_v2_tokens(group, "memory.max"); !t.empty()) {
    limit = to_long(t[0], -1);
    if (const auto s = cgroup_v2_tokens(group, "memory.swap.max"); !s.empty()) cgroup_swap = to_long(s[0], -1);
  } else if (const auto v1 = read_tokens("/sys/fs/cgroup/memory/memory.limit_in_bytes"); !v1.empty()) {
    limit = to_long(v1[0], -1);
  }
  if (limit > 0) {
    const unsigned long long usable_swap = cgroup_swap >= 0 ? std::min(swap, static_cast<unsigned long long>(cgroup_swap)) : swap;
    ceiling = std::min(ceiling, static_cast<unsigned long long>(limit) + usable_swap);
  }
  return ceiling < SIZE_MAX ? static_cast<std::size_t>(ceiling) : SIZE_MAX;
#else
  return SIZE_MAX;
#endif
}

}  // namespace

std::vector<std::string> read_tokens(const std::string& path) {
  std::ifstream in(path);
  std::vector<std::string> out;
  std::string token;
  while (in >> token) out.push_back(token);
  return out;
}

int cgroup_cpu_limit() {
  // cgroup v2: "<quota|max> <period>" in cpu.max ("max": no quota, parses as 0).
  if (const auto t = cgroup_v2_tokens(cgroup_v2_group(), "cpu.max"); t.size() >= 2) return cpus_of_quota(t[0], t[1]);
  // cgroup v1: -1 for no quota.
  const auto q = read_tokens("/sys/fs/cgroup/cpu/cpu.cfs_quota_us");
  const auto p = read_tokens("/sys/fs/cgroup/cpu/cpu.cfs_period_us");
  return !q.empty() && !p.empty() ? cpus_of_quota(q[0], p[0]) : 0;
}

std::size_t memory_ceiling() {
  static const std::size_t ceiling = read_memory_ceiling();
  return ceiling;
}

}  // namespace tapegrad::runtime

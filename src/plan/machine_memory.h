// How much memory this machine has, for `frugal plan`'s default budget.
#pragma once

namespace frugal {

// MemTotal from /proc/meminfo, in bytes; 0 when it cannot be read.
double machine_memory_bytes();

}  // namespace frugal

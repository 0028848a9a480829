#ifndef CTHREADSCHEDULING_H
#define CTHREADSCHEDULING_H
#include <stdint.h>

/// sched_setattr(2) for the calling thread, which Swift's Glibc module does not export:
/// keeps its policy and nice value and asks for a scheduler slice of `nanoseconds` (Linux
/// 6.12+ clamps it to 0.1–100 ms; older kernels ignore it for these policies). Threads and
/// processes it starts later get the default slice. Only for SCHED_OTHER and SCHED_BATCH
/// threads. Returns 0, or -1 with errno set.
int callstream_request_slice(uint64_t nanoseconds);

/// Names the calling thread (prctl PR_SET_NAME; the kernel keeps 15 bytes). Returns 0, or -1
/// with errno set.
int callstream_set_thread_name(const char *name);

#endif

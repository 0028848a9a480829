#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>
#include "CThreadScheduling.h"

/// The kernel's struct sched_attr (SCHED_ATTR_SIZE_VER0), under our own name: newer glibc
/// headers declare it too.
struct callstream_sched_attr {
    uint32_t size;
    uint32_t policy;
    uint64_t flags;
    int32_t nice;
    uint32_t priority;
    uint64_t runtime;
    uint64_t deadline;
    uint64_t period;
};

int callstream_request_slice(uint64_t nanoseconds) {
    int policy = sched_getscheduler(0);
    if (policy < 0) return -1;
    if (policy != SCHED_OTHER && policy != SCHED_BATCH) {
        errno = EINVAL;
        return -1;
    }
    // On Linux the nice value is the calling thread's; sched_setattr sets it too, so pass it on.
    errno = 0;
    int nice = getpriority(PRIO_PROCESS, 0);
    if (nice == -1 && errno != 0) return -1;
    // SCHED_FLAG_RESET_ON_FORK: threads and processes it starts get the default slice (and
    // ask for their own if they need it).
    struct callstream_sched_attr attr = {
        .size = sizeof attr, .policy = (uint32_t)policy, .flags = 0x01, .nice = nice, .runtime = nanoseconds,
    };
    return (int)syscall(SYS_sched_setattr, 0, &attr, 0);
}

int callstream_set_thread_name(const char *name) {
    return prctl(PR_SET_NAME, name, 0, 0, 0);
}

#ifndef CWRITEBACK_H
#define CWRITEBACK_H
#include <stdint.h>

/// sync_file_range(fd, offset, length, SYNC_FILE_RANGE_WRITE), which Swift's Glibc module does
/// not export: starts writing the range's dirty pages to disk from the calling thread, without
/// waiting for them. Returns 0, or -1 with errno set.
int callstream_start_writeback(int fd, int64_t offset, int64_t length);

#endif

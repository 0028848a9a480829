#define _GNU_SOURCE
#include <fcntl.h>
#include "CWriteback.h"

int callstream_start_writeback(int fd, int64_t offset, int64_t length) {
    return sync_file_range(fd, offset, length, SYNC_FILE_RANGE_WRITE);
}

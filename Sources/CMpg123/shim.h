// libmpg123 through pkg-config (libmpg123-dev). Only the feed API is used from Swift: its
// calls take no off_t, so none of the large-file name macros are involved.
#include <mpg123.h>

#ifndef CPROCESSSPAWN_H
#define CPROCESSSPAWN_H
#include <spawn.h>

/// posix_spawn_file_actions_addclosefrom_np (glibc >= 2.34), which Swift's Glibc module
/// does not export: the spawned child closes every descriptor from `from` on.
int callstream_spawn_closefrom(posix_spawn_file_actions_t *actions, int from);

#endif

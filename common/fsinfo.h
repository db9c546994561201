/* Facts about files that make an error message actionable: the free
 * space of the file system holding a path (a full disk), the processes
 * that hold a file open (a locked database). */
#ifndef GILSCOPE_FSINFO_H
#define GILSCOPE_FSINFO_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Writes "12 kB free on DIR" for the file system holding path (a file or
 * directory, or the nearest existing directory above it). Returns the
 * free bytes, or UINT64_MAX (out: "free space unknown") when statvfs
 * fails. */
uint64_t fsinfo_free(const char *path, char *out, size_t len);

/* Writes "pid 123 (sqlite3), pid 456 (python3)": the processes other than
 * this one with path open, as /proc shows them (those of other users are
 * not visible to a user). Returns how many were found. */
int fsinfo_holders(const char *path, char *out, size_t len);

/* The short name of pid (its /proc/PID/comm), "?" when unreadable. */
void fsinfo_comm(pid_t pid, char *out, size_t len);

#endif

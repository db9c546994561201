/* Where gilscope's parts live. The build tree mirrors the install tree
 * (bin/, lib/gilscope/, share/gilscope/), so every part is found relative
 * to the running executable, installed or not. */
#ifndef GILSCOPE_PATHS_H
#define GILSCOPE_PATHS_H

#include <stddef.h>

/* Writes "<prefix>/<rel>" into buf, where prefix is the directory above the
 * one holding the running executable. Returns 0, or -1 with errno set. */
int paths_resolve(const char *rel, char *buf, size_t size);

#endif

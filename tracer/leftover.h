/* Processes of a recording that outlive it: every process started under
 * `gilscope record` carries GILSCOPE_TAG=<tag> in its environment. */
#ifndef GILSCOPE_LEFTOVER_H
#define GILSCOPE_LEFTOVER_H

#include <stdint.h>
#include <stdio.h>

/* Prints one line per live process (not a zombie) of the recording with
 * this tag, each prefixed by pfx and followed by why; returns how many. */
int leftover_report(FILE *out, const char *pfx, uint32_t tag, const char *why);

#endif

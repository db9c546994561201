/* The text of a CTF metadata file, as LTTng writes it (CTF 1.8
 * "metadata_packet_header" packets, either byte order) or as plain text,
 * with its packets bounds-checked: shared by the analyzer's trace check
 * and the recorder's per-process check. */
#ifndef GILSCOPE_CTF_METADATA_H
#define GILSCOPE_CTF_METADATA_H

#include <stddef.h>

/* The whole file (a metadata file, a packet index), its size in *len;
 * to free. NULL with why in err. */
unsigned char *ctf_file_read(const char *path, size_t *len, char *err, size_t errlen);

/* The metadata's text, NUL-terminated (a NUL inside is made a space: it
 * would hide the rest from strstr), its length in *len; to free. NULL
 * with why in err: the file cannot be read, is empty, or a packet is
 * cut short or malformed. */
char *ctf_metadata_text(const char *path, size_t *len, char *err, size_t errlen);

#endif

#ifndef PB_CLI_FILES_H
#define PB_CLI_FILES_H
/* The CLI's file work: capped reads, atomic writes, private directories. */
#include <stddef.h>
#include <sys/types.h>

/* Reads the whole file at path ("-" means stdin) into *data (NUL-terminated,
 * caller frees with free()) and *len. PB_ETOOBIG when it holds more than cap
 * bytes, PB_EIO when it cannot be read; err then says which and why. */
int pb_cli_file_read(const char *path, size_t cap, char **data, size_t *len, char *err,
                     size_t errcap);

/* Writes data to path so that path is either untouched or complete: the bytes
 * go to a temporary file beside it which is then renamed over it. mode is
 * filtered by the umask. A path that exists and is not a regular file (a FIFO,
 * /dev/null) is written in place instead. 0, or PB_EIO with err set; no
 * temporary file is left behind on failure. */
int pb_cli_file_write_atomic(const char *path, const void *data, size_t len, mode_t mode,
                             char *err, size_t errcap);

/* Creates dir and any missing parents with the given mode; existing ones are
 * left as they are. 0, or PB_EIO with err set. */
int pb_cli_mkdir_p(const char *dir, mode_t mode, char *err, size_t errcap);

#endif

/* secret.h — passwords read from files (first line, owner-only permissions) or from the
 * environment; the one place that decides which files may hold a secret. */
#ifndef W2K_SECRET_H
#define W2K_SECRET_H

#include <stddef.h>

#include "err.h"

/* Read the secret on the first line of the file at path (line end stripped) into out
 * (outsz bytes, always NUL-terminated). setting names the configuration setting in
 * messages, e.g. "postgresql.password_file". A file that its group or others may read
 * or write is refused, with the chmod to run (libpq refuses ~/.pgpass the same way), as
 * is one that is not a regular file. Returns 0, or -1 with err (W2K_EXIT_CONFIG; the
 * message names the path, never the content). */
int w2k_secret_read_file(const char *path, const char *setting, char *out, size_t outsz,
                         w2k_err_t *err);

/* The secret of a setting that is read from a file or else from an environment
 * variable: from path when path is not NULL (as w2k_secret_read_file), else from the
 * variable env when it is set, else "". Returns 0 or -1 with err. */
int w2k_secret_read(const char *path, const char *setting, const char *env, char *out, size_t outsz,
                    w2k_err_t *err);

/* Overwrite n bytes at p with zeros in a way the compiler does not drop. */
void w2k_secret_wipe(void *p, size_t n);

#endif

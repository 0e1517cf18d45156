/* secret.c — passwords from owner-only files or the environment (see secret.h). */
#include "secret.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

void w2k_secret_wipe(void *p, size_t n)
{
    volatile unsigned char *v = p;
    while (n--)
        *v++ = 0;
}

int w2k_secret_read_file(const char *path, const char *setting, char *out, size_t outsz,
                         w2k_err_t *err)
{
    if (outsz)
        out[0] = '\0';
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0) {
        w2k_err_set(err, W2K_EXIT_CONFIG, "cannot read %s %s: %s", setting, path, strerror(errno));
        w2k_err_hint(err,
                     "create the file with the password on its first line, readable by this "
                     "user only (chmod 600 %s)",
                     path);
        return -1;
    }
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        w2k_err_set(err, W2K_EXIT_CONFIG, "%s %s is not a regular file", setting, path);
        w2k_err_hint(err, "name a file holding the password on its first line (chmod 600)");
        close(fd);
        return -1;
    }
    if (st.st_mode & (S_IRWXG | S_IRWXO)) {
        w2k_err_set(err, W2K_EXIT_CONFIG,
                    "%s %s is accessible by group or others (mode %04o); a password file must "
                    "be readable by its owner only",
                    setting, path, (unsigned)(st.st_mode & 07777));
        w2k_err_hint(err, "run: chmod 600 %s", path);
        close(fd);
        return -1;
    }
    FILE *f = fdopen(fd, "r");
    if (!f) {
        w2k_err_set(err, W2K_EXIT_CONFIG, "cannot read %s %s: %s", setting, path, strerror(errno));
        close(fd);
        return -1;
    }
    if (outsz && !fgets(out, (int)outsz, f))
        out[0] = '\0';
    fclose(f);
    if (outsz)
        out[strcspn(out, "\r\n")] = '\0';
    return 0;
}

int w2k_secret_read(const char *path, const char *setting, const char *env, char *out, size_t outsz,
                    w2k_err_t *err)
{
    if (path)
        return w2k_secret_read_file(path, setting, out, outsz, err);
    const char *v = env ? getenv(env) : NULL;
    if (outsz)
        snprintf(out, outsz, "%s", v ? v : "");
    return 0;
}

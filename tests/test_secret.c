/* test_secret.c — password files: the first line is the secret, a file open to group or
 * others is refused with the chmod to run, a missing file names its path, never the
 * content; the environment is the fallback. */
#include "secret.h"
#include "unit.h"

#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

static void write_file(const char *path, const char *text, mode_t mode)
{
    FILE *f = fopen(path, "w");
    fputs(text, f);
    fclose(f);
    chmod(path, mode);
}

int main(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    char dir[] = "/tmp/w2k-secret-XXXXXX", path[300], out[64];
    if (!mkdtemp(dir))
        return 1;
    snprintf(path, sizeof path, "%s/pw", dir);
    w2k_err_t err;

    write_file(path, "s3cret-marker\nsecond line\n", 0600);
    CHECK_INT(w2k_secret_read_file(path, "x.password_file", out, sizeof out, &err), 0);
    CHECK_STR(out, "s3cret-marker");
    write_file(path, "crlf\r\n", 0400);
    CHECK_INT(w2k_secret_read_file(path, "x.password_file", out, sizeof out, &err), 0);
    CHECK_STR(out, "crlf");
    write_file(path, "", 0600);
    CHECK_INT(w2k_secret_read_file(path, "x.password_file", out, sizeof out, &err), 0);
    CHECK_STR(out, "");

    static const mode_t open_modes[] = {0640, 0604, 0620, 0660, 0644, 0610};
    for (size_t i = 0; i < sizeof open_modes / sizeof open_modes[0]; i++) {
        write_file(path, "s3cret-marker\n", open_modes[i]);
        CHECK_INT(w2k_secret_read_file(path, "x.password_file", out, sizeof out, &err), -1);
        CHECK_INT(err.code, W2K_EXIT_CONFIG);
        CHECK(strstr(err.msg, "x.password_file") && strstr(err.msg, path));
        CHECK(strstr(err.msg, "group or others"));
        CHECK(strstr(err.hint, "chmod 600") && strstr(err.hint, path));
        CHECK(!strstr(err.msg, "s3cret") && !strstr(err.hint, "s3cret"));
        CHECK_STR(out, "");
    }
    unlink(path);
    CHECK_INT(w2k_secret_read_file(path, "x.password_file", out, sizeof out, &err), -1);
    CHECK(strstr(err.msg, "cannot read x.password_file") && strstr(err.msg, path));
    CHECK_INT(w2k_secret_read_file(dir, "x.password_file", out, sizeof out, &err), -1);
    CHECK(strstr(err.msg, "not a regular file"));

    setenv("W2K_TEST_SECRET", "from-env", 1);
    CHECK_INT(w2k_secret_read(NULL, "x", "W2K_TEST_SECRET", out, sizeof out, &err), 0);
    CHECK_STR(out, "from-env");
    unsetenv("W2K_TEST_SECRET");
    CHECK_INT(w2k_secret_read(NULL, "x", "W2K_TEST_SECRET", out, sizeof out, &err), 0);
    CHECK_STR(out, "");
    w2k_secret_wipe(out, sizeof out);
    CHECK_INT(out[0] | out[sizeof out - 1], 0);
    rmdir(dir);
    return unit_report("test_secret");
}

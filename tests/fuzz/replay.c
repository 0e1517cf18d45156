/* replay.c — a main() for a fuzz harness outside libFuzzer: runs the harness on its seed
 * corpus (tests/fuzz/corpus/NAME/) and on every finding kept for it
 * (tests/fuzz/found/NAME-*), so each finding stays a unit test under gcc, ASan and
 * valgrind. NAME is W2K_FUZZ_NAME; argv[1] is tests/fixtures (as for every unit test). */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv) __attribute__((weak));

/* Run the harness on one file; returns 0, or -1 when it cannot be read. */
static int replay_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return -1;
    size_t cap = 4096, n = 0, r;
    uint8_t *buf = malloc(cap);
    while (buf && (r = fread(buf + n, 1, cap - n, f)) > 0) {
        n += r;
        if (n == cap) {
            uint8_t *nb = realloc(buf, cap * 2);
            if (!nb) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = nb;
            cap *= 2;
        }
    }
    fclose(f);
    if (!buf)
        return -1;
    /* an exact-size copy, so that a read past the input shows under ASan and valgrind */
    uint8_t *exact = malloc(n ? n : 1);
    if (!exact) {
        free(buf);
        return -1;
    }
    memcpy(exact, buf, n);
    free(buf);
    LLVMFuzzerTestOneInput(exact, n);
    free(exact);
    return 0;
}

/* Replay the files of dir whose names start with prefix; returns how many ran, -1 on error. */
static int replay_dir(const char *dir, const char *prefix)
{
    DIR *d = opendir(dir);
    if (!d)
        return 0;
    int n = 0;
    struct dirent *e;
    char path[8192];
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.' || strncmp(e->d_name, prefix, strlen(prefix)) != 0)
            continue;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        if (replay_file(path) != 0) {
            fprintf(stderr, "cannot read %s\n", path);
            closedir(d);
            return -1;
        }
        n++;
    }
    closedir(d);
    return n;
}

int main(int argc, char **argv)
{
    const char *fixtures = argc > 1 ? argv[1] : "tests/fixtures";
    char corpus[4096], found[4096], prefix[256];
    snprintf(corpus, sizeof corpus, "%s/../fuzz/corpus/%s", fixtures, W2K_FUZZ_NAME);
    snprintf(found, sizeof found, "%s/../fuzz/found", fixtures);
    snprintf(prefix, sizeof prefix, "%s-", W2K_FUZZ_NAME);
    if (LLVMFuzzerInitialize)
        LLVMFuzzerInitialize(&argc, &argv);
    int a = replay_dir(corpus, "");
    int b = replay_dir(found, prefix);
    if (a < 0 || b < 0)
        return 1;
    if (a == 0) {
        fprintf(stderr, "replay %s: no seeds in %s\n", W2K_FUZZ_NAME, corpus);
        return 1;
    }
    fprintf(stderr, "replay %s: %d seeds and %d findings passed\n", W2K_FUZZ_NAME, a, b);
    return 0;
}

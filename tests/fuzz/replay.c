/*
 * A main() for a fuzz target without libFuzzer: runs its
 * LLVMFuzzerTestOneInput once on every file named (or in every directory
 * named) on the command line. The normal gcc build links each target with
 * this and ctest replays the seed corpus and the regressions, so they run
 * in the plain, the ASan + UBSan and the valgrind builds too, not only
 * where clang's libFuzzer is available.
 *
 * Each input is copied into a buffer of exactly its size, as libFuzzer
 * does, so a read past its end is a heap overflow ASan and valgrind see.
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int run_file(const char *path) {
    FILE *fp = fopen(path, "rb");
    if (!fp) {
        perror(path);
        return -1;
    }
    size_t cap = 4096, n = 0;
    uint8_t *buf = malloc(cap);
    size_t r;
    while (buf && (r = fread(buf + n, 1, cap - n, fp)) > 0) {
        n += r;
        if (n == cap)
            buf = realloc(buf, cap *= 2);
    }
    fclose(fp);
    if (!buf) {
        fprintf(stderr, "%s: out of memory\n", path);
        return -1;
    }
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

static int by_name(const struct dirent **a, const struct dirent **b) {
    return strcmp((*a)->d_name, (*b)->d_name);
}

int main(int argc, char **argv) {
    LLVMFuzzerInitialize(&argc, &argv);
    int ran = 0, failed = 0;
    for (int i = 1; i < argc; i++) {
        struct stat st;
        if (stat(argv[i], &st)) {
            perror(argv[i]);
            failed++;
            continue;
        }
        if (!S_ISDIR(st.st_mode)) {
            failed += run_file(argv[i]) != 0;
            ran++;
            continue;
        }
        struct dirent **ents;
        int n = scandir(argv[i], &ents, NULL, by_name);
        if (n < 0) {
            perror(argv[i]);
            failed++;
            continue;
        }
        for (int k = 0; k < n; k++) {
            char path[4096];
            snprintf(path, sizeof(path), "%s/%s", argv[i], ents[k]->d_name);
            if (!stat(path, &st) && S_ISREG(st.st_mode) && ents[k]->d_name[0] != '.') {
                failed += run_file(path) != 0;
                ran++;
            }
            free(ents[k]);
        }
        free(ents);
    }
    /* A crash or a sanitizer report has already ended the process. */
    printf("%d passed, %d failed\n", ran - failed, failed);
    return failed ? 1 : 0;
}

/* fuzz/replay.c - runs a fuzz target without libFuzzer: every file named on the command
   line, or found in a directory named there, is passed once to LLVMFuzzerTestOneInput.
   Linked with each target for `make test` (the seed corpus and every saved crash input
   replayed under Valgrind or the sanitizers) and for `make coverage` (gcc --coverage).
   Prints "N passed, 0 failed": a failing input aborts, so there is no other count. */
#define _POSIX_C_SOURCE 200809L
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int replay_file(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) { perror(path); return -1; }
    size_t cap = 4096, len = 0, k;
    unsigned char *buf = (unsigned char *)malloc(cap);
    while (buf && (k = fread(buf + len, 1, cap - len, f)) > 0) {
        len += k;
        if (len == cap) {
            unsigned char *grown = (unsigned char *)realloc(buf, cap *= 2);
            if (!grown) { free(buf); buf = NULL; }
            buf = grown;
        }
    }
    fclose(f);
    if (!buf) { fprintf(stderr, "%s: out of memory\n", path); return -1; }
    LLVMFuzzerTestOneInput(buf, len);
    free(buf);
    return 0;
}

static int compare_names(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* The files of a directory in name order, so runs are repeatable. */
static int replay_dir(const char *dir, int *count) {
    DIR *d = opendir(dir);
    struct dirent *e;
    char **names = NULL;
    size_t n = 0, cap = 0;
    int rc = 0;
    if (!d) { perror(dir); return -1; }
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.') continue;
        if (n == cap) {
            char **grown = (char **)realloc(names, (cap = cap ? cap * 2 : 64) * sizeof *names);
            if (!grown) { rc = -1; break; }
            names = grown;
        }
        names[n] = (char *)malloc(strlen(dir) + strlen(e->d_name) + 2);
        if (!names[n]) { rc = -1; break; }
        sprintf(names[n], "%s/%s", dir, e->d_name);
        n++;
    }
    closedir(d);
    if (names) qsort(names, n, sizeof *names, compare_names);
    for (size_t i = 0; i < n; i++) {
        if (rc == 0 && replay_file(names[i]) == 0) (*count)++;
        else rc = -1;
        free(names[i]);
    }
    free(names);
    return rc;
}

int main(int argc, char **argv) {
    int count = 0, rc = 0;
    for (int i = 1; i < argc && rc == 0; i++) {
        struct stat st;
        if (stat(argv[i], &st) != 0) { perror(argv[i]); rc = -1; }
        else if (S_ISDIR(st.st_mode)) rc = replay_dir(argv[i], &count);
        else if ((rc = replay_file(argv[i])) == 0) count++;
    }
    printf("%d passed, %d failed\n", count, rc == 0 ? 0 : 1);
    return rc == 0 ? 0 : 1;
}

/* toctou N BENIGN SECRET: one thread flips a path buffer between BENIGN and SECRET while the
 * main thread opens that buffer N times. After each open the main thread fstat()s the fd and
 * tells which file the kernel really opened. Prints "opened-secret K opened-benign M",
 * "ino-secret I" and one line "open FD_INO" per successful open (in order). */
#define _GNU_SOURCE
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char buf[4096];
static const char *a, *b;
static atomic_int stop;

static void *flipper(void *arg) {
    (void)arg;
    size_t la = strlen(a) + 1, lb = strlen(b) + 1;
    while (!atomic_load(&stop)) {
        memcpy(buf, b, lb);
        memcpy(buf, a, la);
    }
    return NULL;
}

int main(int argc, char **argv) {
    if (argc < 4) return 2;
    int n = atoi(argv[1]);
    a = argv[2];
    b = argv[3];
    struct stat ss;
    if (stat(b, &ss) != 0) return 1;
    memcpy(buf, a, strlen(a) + 1);
    pthread_t t;
    pthread_create(&t, NULL, flipper, NULL);
    int secret = 0, benign = 0;
    unsigned long *inos = calloc(n, sizeof *inos);
    int k = 0;
    for (int i = 0; i < n; i++) {
        int fd = open(buf, O_RDONLY);
        if (fd < 0) continue;
        struct stat st;
        fstat(fd, &st);
        inos[k++] = st.st_ino;
        if (st.st_ino == ss.st_ino) secret++; else benign++;
        close(fd);
    }
    atomic_store(&stop, 1);
    pthread_join(t, NULL);
    printf("opened-secret %d opened-benign %d\nino-secret %lu\n", secret, benign, (unsigned long)ss.st_ino);
    for (int i = 0; i < k; i++) printf("open %lu\n", inos[i]);
    return 0;
}

/* Creates N pthreads (glibc >= 2.34: clone3); each opens and closes PATH. */
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static const char *path;

static void *worker(void *arg) {
    (void)arg;
    int fd = open(path, O_RDONLY);
    if (fd >= 0) close(fd);
    return NULL;
}

int main(int argc, char **argv) {
    int n = argc > 1 ? atoi(argv[1]) : 4;
    path = argc > 2 ? argv[2] : "/dev/null";
    pthread_t t[64];
    if (n > 64) n = 64;
    for (int i = 0; i < n; i++) pthread_create(&t[i], NULL, worker, NULL);
    for (int i = 0; i < n; i++) pthread_join(t[i], NULL);
    printf("threads %d\n", n);
    return 0;
}

/* threads_barrier N MARKER: N threads alive at the same time (a barrier), each opens
 * MARKER once, then all are joined. Prints "leader PID", "thread TID" per thread, "threads N". */
#define _GNU_SOURCE
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static pthread_barrier_t barrier;
static const char *marker;
static pid_t tids[4096];

static void *worker(void *arg) {
    long i = (long)arg;
    tids[i] = gettid();
    int fd = open(marker, O_RDONLY);
    if (fd >= 0) close(fd);
    pthread_barrier_wait(&barrier);
    return NULL;
}

int main(int argc, char **argv) {
    if (argc < 3) return 2;
    int n = atoi(argv[1]);
    marker = argv[2];
    if (n > 4096) return 2;
    pthread_t *ts = calloc(n, sizeof *ts);
    pthread_barrier_init(&barrier, NULL, n);
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, 64 * 1024);
    for (long i = 0; i < n; i++)
        if (pthread_create(&ts[i], &attr, worker, (void *)i) != 0) { perror("pthread_create"); return 1; }
    for (int i = 0; i < n; i++) pthread_join(ts[i], NULL);
    printf("leader %d\n", (int)getpid());
    for (int i = 0; i < n; i++) printf("thread %d\n", (int)tids[i]);
    printf("threads %d\n", n);
    return 0;
}

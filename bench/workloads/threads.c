/* Thread churn: ROUNDS rounds of creating NTHREADS pthreads and joining them.
 *
 * usage: threads ROUNDS NTHREADS
 * Each thread opens /proc/self/stat, reads it and closes it (an fd-creating
 * syscall the tracer stops at), and makes a few syscalls it does not stop at
 * (getpid, sched_yield). glibc creates threads with clone3, so every thread
 * costs the tracer a clone event stop and an exit event stop.
 */
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>

static void *worker(void *arg)
{
    char buf[1024];
    long n = 0;
    int fd = open("/proc/self/stat", O_RDONLY);
    if (fd >= 0) {
        n = read(fd, buf, sizeof buf);
        close(fd);
    }
    for (int i = 0; i < 4; i++) {
        syscall(SYS_getpid);
        sched_yield();
    }
    return (void *)n;
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: %s ROUNDS NTHREADS\n", argv[0]);
        return 2;
    }
    int rounds = atoi(argv[1]);
    int nthreads = atoi(argv[2]);
    pthread_t *tids = calloc(nthreads, sizeof *tids);
    long total = 0;
    for (int r = 0; r < rounds; r++) {
        for (int t = 0; t < nthreads; t++)
            if (pthread_create(&tids[t], NULL, worker, NULL) != 0) {
                fprintf(stderr, "pthread_create failed\n");
                return 1;
            }
        for (int t = 0; t < nthreads; t++) {
            void *ret;
            pthread_join(tids[t], &ret);
            total += (long)ret;
        }
    }
    printf("%ld\n", total);
    free(tids);
    return 0;
}

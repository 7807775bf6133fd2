/* busy_opens N MARKER: 2 threads open MARKER N/2 times each and add up the fds' first
 * bytes; prints "pid PID" first, then "opens N sum S" and exits 5.
 * Used under a storm of SIGSTOP/SIGCONT: the result must not change. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static const char *marker;
static long half;

static void *worker(void *arg) {
    long sum = 0;
    for (long i = 0; i < half; i++) {
        int fd;
        while ((fd = open(marker, O_RDONLY)) < 0) ;
        char c = 0;
        while (pread(fd, &c, 1, 0) != 1) ;
        sum += c;
        close(fd);
    }
    *(long *)arg = sum;
    return NULL;
}

int main(int argc, char **argv) {
    if (argc < 3) return 2;
    half = atol(argv[1]) / 2;
    marker = argv[2];
    printf("pid %d\n", (int)getpid());
    fflush(stdout);
    pthread_t t1, t2;
    long s1 = 0, s2 = 0;
    pthread_create(&t1, NULL, worker, &s1);
    pthread_create(&t2, NULL, worker, &s2);
    pthread_join(t1, NULL);
    pthread_join(t2, NULL);
    printf("opens %ld sum %ld\n", 2 * half, s1 + s2);
    return 5;
}

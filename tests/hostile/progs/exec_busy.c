/* exec_busy K MARKER PROG ARGS...: K worker threads open MARKER in a loop; one more
 * thread (not the leader) waits until every worker opened it 20 times, then execs PROG.
 * Before the exec it prints "leader PID", "execer TID", "worker TID" per worker. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static const char *marker;
static char **prog;
static int k;
static atomic_int counts[64];
static atomic_int wtids[64];

static void *worker(void *arg) {
    long i = (long)arg;
    atomic_store(&wtids[i], gettid());
    for (;;) {
        int fd = open(marker, O_RDONLY);
        if (fd >= 0) close(fd);
        atomic_fetch_add(&counts[i], 1);
    }
    return NULL;
}

static void *execer(void *arg) {
    (void)arg;
    for (;;) {
        int ok = 1;
        for (int i = 0; i < k; i++) if (atomic_load(&counts[i]) < 20) ok = 0;
        if (ok) break;
        usleep(1000);
    }
    printf("leader %d\nexecer %d\n", (int)getpid(), (int)gettid());
    for (int i = 0; i < k; i++) printf("worker %d\n", atomic_load(&wtids[i]));
    fflush(stdout);
    execv(prog[0], prog);
    perror("execv");
    _exit(99);
}

int main(int argc, char **argv) {
    if (argc < 4) return 2;
    k = atoi(argv[1]);
    marker = argv[2];
    prog = argv + 3;
    if (k > 64) return 2;
    pthread_t t;
    for (long i = 0; i < k; i++) pthread_create(&t, NULL, worker, (void *)i);
    pthread_create(&t, NULL, execer, NULL);
    for (;;) pause();
}

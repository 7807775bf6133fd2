/* term_trap K MARKER: K threads open MARKER as fast as they can until SIGTERM arrives
 * (a handler sets a flag); then main joins them, prints "opens TOTAL" and exits 42.
 * Prints "ready" once every thread has opened the marker 100 times. Failed opens are
 * not counted (a signal may interrupt nothing here, but be exact). */
#define _GNU_SOURCE
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static volatile sig_atomic_t stop;
static const char *marker;
static atomic_long counts[64];

static void on_term(int sig) { (void)sig; stop = 1; }

static void *worker(void *arg) {
    long i = (long)arg;
    while (!stop) {
        int fd = open(marker, O_RDONLY);
        if (fd >= 0) { atomic_fetch_add(&counts[i], 1); close(fd); }
    }
    return NULL;
}

int main(int argc, char **argv) {
    if (argc < 3) return 2;
    int k = atoi(argv[1]);
    marker = argv[2];
    struct sigaction sa = {0};
    sa.sa_handler = on_term;
    sigaction(SIGTERM, &sa, NULL);
    pthread_t ts[64];
    for (long i = 0; i < k; i++) pthread_create(&ts[i], NULL, worker, (void *)i);
    for (;;) {
        int ok = 1;
        for (int i = 0; i < k; i++) if (atomic_load(&counts[i]) < 100) ok = 0;
        if (ok) break;
        usleep(1000);
    }
    printf("ready\n");
    fflush(stdout);
    for (int i = 0; i < k; i++) pthread_join(ts[i], NULL);
    long total = 0;
    for (int i = 0; i < k; i++) total += atomic_load(&counts[i]);
    printf("opens %ld\n", total);
    return 42;
}

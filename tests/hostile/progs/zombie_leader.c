/* zombie_leader K M MARKER: the leader starts K threads and calls pthread_exit at once
 * (it stays a zombie while they run). Each thread waits until the leader is a zombie,
 * opens MARKER M times, prints "thread TID M"; the last one to finish calls exit(7). */
#define _GNU_SOURCE
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *marker;
static int k, m;
static atomic_int finished;
static pthread_mutex_t out = PTHREAD_MUTEX_INITIALIZER;

static int leader_is_zombie(void) {
    char path[64], buf[512];
    snprintf(path, sizeof path, "/proc/self/task/%d/stat", (int)getpid());
    int fd = open(path, O_RDONLY);
    if (fd < 0) return 1;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0) return 1;
    buf[n] = 0;
    char *p = strrchr(buf, ')');
    return p && p[2] == 'Z';
}

static void *worker(void *arg) {
    (void)arg;
    while (!leader_is_zombie()) usleep(1000);
    for (int i = 0; i < m; i++) {
        int fd = open(marker, O_RDONLY);
        if (fd >= 0) close(fd);
    }
    pthread_mutex_lock(&out);
    printf("thread %d %d\n", (int)gettid(), m);
    fflush(stdout);
    pthread_mutex_unlock(&out);
    if (atomic_fetch_add(&finished, 1) + 1 == k) exit(7);
    return NULL;
}

int main(int argc, char **argv) {
    if (argc < 4) return 2;
    k = atoi(argv[1]);
    m = atoi(argv[2]);
    marker = argv[3];
    printf("leader %d\n", (int)getpid());
    fflush(stdout);
    pthread_t t;
    for (int i = 0; i < k; i++) pthread_create(&t, NULL, worker, NULL);
    pthread_exit(NULL);
}

/* Exit orders that the wait status alone would report late or never.
 *
 *   exit_order leader-first PATH   the leader exits (pthread_exit) while two
 *                                  threads still run; they open PATH afterwards
 *   exit_order exec-thread PROG    of three threads, the middle one execs PROG
 *                                  (the other two and the leader are killed)
 */
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static char **prog;
static const char *path;

static void *late_open(void *arg) {
    usleep(200000 + 20000 * (long)arg);
    close(open(path, O_RDONLY));
    return NULL;
}

static void *idle(void *arg) {
    (void)arg;
    for (;;) pause();
}

static void *exec_it(void *arg) {
    (void)arg;
    usleep(50000);
    execv(prog[0], prog);
    _exit(99);
}

int main(int argc, char **argv) {
    pthread_t t;
    if (argc > 2 && strcmp(argv[1], "leader-first") == 0) {
        path = argv[2];
        pthread_create(&t, NULL, late_open, (void *)1);
        pthread_create(&t, NULL, late_open, (void *)2);
        pthread_exit(NULL);
    }
    if (argc > 2 && strcmp(argv[1], "exec-thread") == 0) {
        prog = argv + 2;
        pthread_create(&t, NULL, idle, NULL);
        pthread_create(&t, NULL, exec_it, NULL);
        pthread_create(&t, NULL, idle, NULL);
        for (;;) pause();
    }
    return 2;
}

/* A non-leader thread execs argv[1..]: the kernel gives it the leader's tid. */
#include <pthread.h>
#include <stdio.h>
#include <unistd.h>

static char **prog;

static void *worker(void *arg) {
    (void)arg;
    execv(prog[0], prog);
    perror("execv");
    _exit(99);
}

int main(int argc, char **argv) {
    if (argc < 2) return 2;
    prog = argv + 1;
    pthread_t t;
    pthread_create(&t, NULL, worker, NULL);
    for (;;) pause();
}

/* zombie_exec PROG ARGS...: the leader calls pthread_exit at once; its only thread waits until
 * the leader is a zombie, prints "execer TID leader PID" and execs PROG (the kernel gives it the
 * dead leader's tid). */
#define _GNU_SOURCE
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static char **prog;

static int leader_is_zombie(void) {
    char path[64], buf[512];
    snprintf(path, sizeof path, "/proc/self/task/%d/stat", (int)getpid());
    int fd = open(path, O_RDONLY);
    if (fd < 0) return 1;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    buf[n > 0 ? n : 0] = 0;
    char *p = strrchr(buf, ')');
    return p && p[2] == 'Z';
}

static void *worker(void *arg) {
    (void)arg;
    while (!leader_is_zombie()) usleep(1000);
    printf("execer %d leader %d\n", (int)gettid(), (int)getpid());
    fflush(stdout);
    execv(prog[0], prog);
    perror("execv");
    _exit(99);
}

int main(int argc, char **argv) {
    if (argc < 2) return 2;
    prog = argv + 1;
    pthread_t t;
    pthread_create(&t, NULL, worker, NULL);
    pthread_exit(NULL);
}

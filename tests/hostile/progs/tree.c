/* tree MARKER: builds a process tree that would outlive a careless tracer, then prints
 * "ready N" (N = processes besides the app) and waits forever.
 *   - 2 children, each with 2 grandchildren (pause() loops)
 *   - a child that ignores SIGTERM/SIGHUP/SIGINT and blocks every blockable signal
 *   - a double-forked daemon (setsid) in a new session
 *   - a child that stopped itself (SIGSTOP)
 *   - a child busy in traced syscalls (open loop)
 *   - a grandchild that exec'd sh -c 'while :; do sleep 1; done' MARKER
 * Every process keeps MARKER in its argv so that the test finds leftovers by /proc scan. */
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

static int ready_w;
static const char *marker;

static void told(void) { if (write(ready_w, "x", 1) != 1) _exit(1); }

static void idle(void) { told(); for (;;) pause(); }

static pid_t spawn(void (*body)(void)) {
    pid_t pid = fork();
    if (pid == 0) { body(); _exit(0); }
    return pid;
}

static void grandchild(void) { idle(); }
static void child(void) { spawn(grandchild); spawn(grandchild); idle(); }
static void stubborn(void) {
    signal(SIGTERM, SIG_IGN); signal(SIGHUP, SIG_IGN); signal(SIGINT, SIG_IGN);
    sigset_t all; sigfillset(&all); sigprocmask(SIG_BLOCK, &all, NULL);
    idle();
}
static void daemon_body(void) { idle(); }
static void daemonizer(void) {
    setsid();
    spawn(daemon_body);
    _exit(0);
}
static void stopped(void) { told(); raise(SIGSTOP); for (;;) pause(); }
static void busy(void) {
    told();
    for (;;) { int fd = open(marker, O_RDONLY); if (fd >= 0) close(fd); }
}
static void execer(void) {
    told();
    char cmd[] = "while :; do sleep 1; done";
    execl("/bin/sh", "sh", "-c", cmd, marker, (char *)NULL);
    _exit(127);
}
static void exec_parent(void) { spawn(execer); idle(); }

int main(int argc, char **argv) {
    if (argc < 2) return 2;
    marker = argv[1];
    int p[2];
    if (pipe(p) != 0) return 1;
    ready_w = p[1];
    pid_t d = spawn(daemonizer);
    spawn(child); spawn(child);
    spawn(stubborn); spawn(stopped); spawn(busy); spawn(exec_parent);
    waitpid(d, NULL, 0);
    int n = 0, expect = 2 * 3 + 1 + 1 + 1 + 1 + 2;
    char c;
    while (n < expect && read(p[0], &c, 1) == 1) n++;
    printf("ready %d\n", n);
    fflush(stdout);
    for (;;) pause();
}

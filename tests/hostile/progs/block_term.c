/* block_term MODE: blocks SIGTERM and prints "ready PID".
 *   until-pending: polls sigpending every 10 ms; once SIGTERM is pending prints
 *                  "pending", keeps running 1 s ("still running"), then unblocks it
 *                  (and dies of it).
 *   forever:       never unblocks; sleeps until killed. */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int main(int argc, char **argv) {
    if (argc < 2) return 2;
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigprocmask(SIG_BLOCK, &set, NULL);
    printf("ready %d\n", (int)getpid());
    fflush(stdout);
    if (!strcmp(argv[1], "forever")) for (;;) pause();
    for (;;) {
        sigset_t pend;
        sigpending(&pend);
        if (sigismember(&pend, SIGTERM)) break;
        usleep(10000);
    }
    printf("pending\n");
    fflush(stdout);
    usleep(1000000);
    printf("still running\n");
    fflush(stdout);
    sigprocmask(SIG_UNBLOCK, &set, NULL);
    printf("not reached\n");
    return 0;
}

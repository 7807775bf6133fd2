#define _GNU_SOURCE
/* ptrace_probe MODE: the app's own ptrace calls under a tracer.
 *   traceme        ptrace(PTRACE_TRACEME)
 *   attach-parent  ptrace(PTRACE_ATTACH, getppid())  (the parent is pdigpy when run directly)
 *   seize-parent   ptrace(PTRACE_SEIZE, getppid())
 *   attach-pid PID / seize-pid PID
 * Prints "MODE res=R errno=NAME" and detaches again if the call succeeded. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char **argv) {
    if (argc < 2) return 2;
    const char *mode = argv[1];
    long res;
    pid_t target = argc > 2 ? atoi(argv[2]) : getppid();
    errno = 0;
    if (!strcmp(mode, "traceme")) res = ptrace(PTRACE_TRACEME, 0, 0, 0);
    else if (!strncmp(mode, "attach", 6)) res = ptrace(PTRACE_ATTACH, target, 0, 0);
    else if (!strncmp(mode, "seize", 5)) res = ptrace(PTRACE_SEIZE, target, 0, 0);
    else return 2;
    int e = errno;
    printf("%s res=%ld errno=%s target=%d\n", mode, res, e ? strerrorname_np(e) : "0", (int)target);
    fflush(stdout);
    if (res == 0 && strcmp(mode, "traceme")) {
        if (!strncmp(mode, "attach", 6)) waitpid(target, NULL, __WALL);
        ptrace(PTRACE_DETACH, target, 0, 0);
    }
    return 0;
}

/* fork() (glibc: clone syscall), vfork(), raw fork syscall, each child execs PROG. */
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static void run(pid_t pid, const char *prog) {
    if (pid == 0) {
        execl(prog, prog, (char *)NULL);
        _exit(127);
    }
    int st;
    waitpid(pid, &st, 0);
}

int main(int argc, char **argv) {
    const char *prog = argc > 1 ? argv[1] : "/bin/true";
    run(fork(), prog);
    run(vfork(), prog);
#ifdef SYS_fork
    run((pid_t)syscall(SYS_fork), prog);
#endif
    printf("forks done\n");
    return 0;
}

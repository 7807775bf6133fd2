/* COUNT times: fork, exec PROG (default /bin/true) in the child, wait for it.
 *
 * usage: forkexec COUNT [PROG]   -- exit 1 if a child fails.
 */
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s COUNT [PROG]\n", argv[0]);
        return 2;
    }
    int count = atoi(argv[1]);
    const char *prog = argc > 2 ? argv[2] : "/bin/true";
    for (int i = 0; i < count; i++) {
        pid_t pid = fork();
        if (pid < 0) {
            perror("fork");
            return 1;
        }
        if (pid == 0) {
            execl(prog, prog, (char *)NULL);
            _exit(127);
        }
        int status;
        if (waitpid(pid, &status, 0) < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
            fprintf(stderr, "child %d failed\n", i);
            return 1;
        }
    }
    return 0;
}

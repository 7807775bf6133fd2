/* vchain N MARKER: vfork + exec of itself N levels deep; level 0 opens MARKER.
 * Each level prints "level L pid PID ppid PPID" (deepest first, parents after their wait). */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char **argv) {
    if (argc < 3) return 2;
    int n = atoi(argv[1]);
    if (n == 0) {
        int fd = open(argv[2], O_RDONLY);
        if (fd >= 0) close(fd);
    } else {
        char next[16];
        snprintf(next, sizeof next, "%d", n - 1);
        pid_t pid = vfork();
        if (pid == 0) {
            execl("/proc/self/exe", "vchain", next, argv[2], (char *)NULL);
            _exit(127);
        }
        int st;
        if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st) != 0) return 1;
    }
    printf("level %d pid %d ppid %d\n", n, (int)getpid(), (int)getppid());
    fflush(stdout);
    return 0;
}

/* forkstorm N MARKER: fork N short-lived children (at most 50 alive at once).
 * Each child opens MARKER once and exits with code (index % 100).
 * Prints "child PID CODE" per child (from the parent's waitpid) and "forks N". */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char **argv) {
    if (argc < 3) return 2;
    int n = atoi(argv[1]), done = 0, started = 0, alive = 0;
    while (done < n) {
        while (started < n && alive < 50) {
            pid_t pid = fork();
            if (pid < 0) { perror("fork"); return 1; }
            if (pid == 0) {
                int fd = open(argv[2], O_RDONLY);
                if (fd >= 0) close(fd);
                _exit(started % 100);
            }
            started++;
            alive++;
        }
        int st;
        pid_t pid = wait(&st);
        if (pid < 0) { perror("wait"); return 1; }
        printf("child %d %d\n", (int)pid, WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st));
        alive--;
        done++;
    }
    printf("forks %d\n", n);
    return 0;
}

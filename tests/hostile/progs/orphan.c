/* orphan MARKER: the parent forks a child and exits 3 at once. The child waits until
 * it has been reparented, opens MARKER and exits 11. Prints "parent PID child CPID"
 * and, from the child, "orphan PID reparented-from PARENT". */
#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

int main(int argc, char **argv) {
    if (argc < 2) return 2;
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid == 0) {
        while (getppid() == parent) usleep(1000);
        usleep(100000);
        int fd = open(argv[1], O_RDONLY);
        if (fd >= 0) close(fd);
        printf("orphan %d reparented-from %d\n", (int)getpid(), (int)parent);
        fflush(stdout);
        _exit(11);
    }
    printf("parent %d child %d\n", (int)parent, (int)pid);
    fflush(stdout);
    return 3;
}

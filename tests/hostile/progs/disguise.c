/* disguise MARKER FAKE: renames itself (prctl PR_SET_NAME FAKE) and overwrites its argv
 * memory with FAKE, then opens MARKER, forks a child that opens MARKER too.
 * Prints "comm <what /proc/self/comm says>" and "cmdline <what /proc/self/cmdline says>". */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char **argv) {
    if (argc < 3) return 2;
    char marker[4096], fake[64];
    snprintf(marker, sizeof marker, "%s", argv[1]);
    snprintf(fake, sizeof fake, "%s", argv[2]);
    prctl(PR_SET_NAME, fake, 0, 0, 0);
    /* argv strings are contiguous: blank the whole area, then write the fake name */
    char *start = argv[0], *end = argv[argc - 1] + strlen(argv[argc - 1]);
    memset(start, 0, end - start);
    memcpy(start, fake, strlen(fake) < (size_t)(end - start) ? strlen(fake) : (size_t)(end - start));
    char buf[256];
    int fd = open("/proc/self/comm", O_RDONLY);
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    buf[n > 0 ? n : 0] = 0;
    if (n > 0 && buf[n - 1] == '\n') buf[n - 1] = 0;
    printf("comm %s\n", buf);
    fd = open("/proc/self/cmdline", O_RDONLY);
    n = read(fd, buf, sizeof buf - 1);
    close(fd);
    buf[n > 0 ? n : 0] = 0;
    printf("cmdline %s\n", buf);
    fflush(stdout);
    fd = open(marker, O_RDONLY);
    if (fd >= 0) close(fd);
    pid_t pid = fork();
    if (pid == 0) {
        fd = open(marker, O_RDONLY);
        if (fd >= 0) close(fd);
        _exit(0);
    }
    waitpid(pid, NULL, 0);
    printf("pid %d child %d\n", (int)getpid(), (int)pid);
    return 0;
}

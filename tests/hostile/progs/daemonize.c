/* daemonize MARKER: the classic double fork. The app forks A; A calls setsid() and
 * forks B; A exits; the app reaps A and exits 0. B (the daemon) waits until A is gone,
 * chdir("/"), opens MARKER, exits 0. Prints "app PID", "first APID sid SID", "daemon BPID". */
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char **argv) {
    if (argc < 2) return 2;
    printf("app %d\n", (int)getpid());
    fflush(stdout);
    pid_t a = fork();
    if (a == 0) {
        pid_t sid = setsid();
        printf("first %d sid %d\n", (int)getpid(), (int)sid);
        fflush(stdout);
        pid_t first = getpid(); /* known before the fork: B may start after A is gone */
        pid_t b = fork();
        if (b == 0) {
            while (kill(first, 0) == 0 && getppid() == first) usleep(1000);
            usleep(200000);
            if (chdir("/") != 0) _exit(1);
            int fd = open(argv[1], O_RDONLY);
            if (fd >= 0) close(fd);
            _exit(0);
        }
        printf("daemon %d\n", (int)b);
        fflush(stdout);
        _exit(0);
    }
    int st;
    waitpid(a, &st, 0);
    return 0;
}

/* Helper for tests/bounds: one program, several modes, each a bound pushed by a real process.
 *
 *   bounds_prog fds N            raise RLIMIT_NOFILE, open /dev/null N times (kept open)
 *   bounds_prog open PATH...     open each PATH with O_CREAT|O_WRONLY; print "fd" or "-errno"
 *   bounds_prog exec N SIZE      fork; the child execs /bin/true with N args of SIZE bytes
 *   bounds_prog churn N          N/2 times fork+_exit+wait, N/2 times pthread create+join
 *
 * Results go to stderr (stdout belongs to the test's checks of pdigpy's own silence).
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

static int fds(long n) {
    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    rlim_t want = (rlim_t)n + 64;
    if (rl.rlim_max < want) rl.rlim_max = want;  /* root (CAP_SYS_RESOURCE) may raise it up to fs.nr_open */
    rl.rlim_cur = want;
    if (setrlimit(RLIMIT_NOFILE, &rl) != 0) {
        getrlimit(RLIMIT_NOFILE, &rl);
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    long opened = 0;
    int last = -1;
    for (long i = 0; i < n; i++) {
        int fd = open("/dev/null", O_RDONLY);
        if (fd < 0) { fprintf(stderr, "open #%ld: %s\n", i, strerror(errno)); break; }
        last = fd;
        opened++;
    }
    fprintf(stderr, "opened %ld last %d\n", opened, last);
    return 0;
}

static int open_paths(int argc, char **argv) {
    for (int i = 0; i < argc; i++) {
        int fd = open(argv[i], O_CREAT | O_WRONLY, 0600);
        fprintf(stderr, "%d\n", fd >= 0 ? fd : -errno);
        if (fd >= 0) close(fd);
    }
    return 0;
}

static int exec_big(long n, long size) {
    char **args = calloc((size_t)n + 2, sizeof(char *));
    args[0] = "true";
    for (long i = 0; i < n; i++) {
        args[i + 1] = malloc((size_t)size + 1);
        memset(args[i + 1], 'a' + (int)(i % 26), (size_t)size);
        args[i + 1][size] = '\0';
    }
    pid_t pid = fork();
    if (pid == 0) {
        execv("/bin/true", args);
        fprintf(stderr, "execv: %d\n", -errno);
        _exit(3);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    fprintf(stderr, "child status %d\n", WEXITSTATUS(status));
    return 0;
}

static void *nothing(void *arg) { return arg; }

static int churn(long n) {
    for (long i = 0; i < n / 2; i++) {
        pid_t pid = fork();
        if (pid == 0) _exit(0);
        waitpid(pid, NULL, 0);
    }
    for (long i = 0; i < n - n / 2; i++) {
        pthread_t t;
        if (pthread_create(&t, NULL, nothing, NULL) == 0) pthread_join(t, NULL);
    }
    int fd = open("/dev/null", O_RDONLY);  /* an event after the last release: the baseline probe */
    fprintf(stderr, "churned %ld fd %d\n", n, fd);
    return 0;
}

int main(int argc, char **argv) {
    if (argc >= 3 && strcmp(argv[1], "fds") == 0) return fds(atol(argv[2]));
    if (argc >= 2 && strcmp(argv[1], "open") == 0) return open_paths(argc - 2, argv + 2);
    if (argc >= 4 && strcmp(argv[1], "exec") == 0) return exec_big(atol(argv[2]), atol(argv[3]));
    if (argc >= 3 && strcmp(argv[1], "churn") == 0) return churn(atol(argv[2]));
    fprintf(stderr, "usage: bounds_prog fds N | open PATH... | exec N SIZE | churn N\n");
    return 2;
}

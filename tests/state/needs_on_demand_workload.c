/* Changes every part of the state once, each followed by probe syscalls (write, mkdirat,
 * openat, execve) whose fields read that part. Used by test_needs_on_demand.py.
 *
 *   needs_on_demand_workload WORKDIR NOPENS
 *
 * WORKDIR must exist and hold a/b/f. NOPENS: extra opens of a/b/f (stop counting).
 * Every step exits 3 on an unexpected failure so that the test notices. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <linux/capability.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#define CHECK(x) do { if ((x) < 0) { perror(#x); _exit(3); } } while (0)
/* a second run in the same WORKDIR finds its directories made */
#define MKDIRAT(d, p) do { if (mkdirat(d, p, 0700) < 0 && errno != EEXIST) { perror(p); _exit(3); } } while (0)

static int devnull;

static void probe(void) { CHECK(write(devnull, "p", 1)); }

static void in_child(void (*fn)(void)) {
    pid_t pid = fork();
    CHECK(pid);
    if (pid == 0) {
        fn();
        probe();
        _exit(0);
    }
    int status;
    CHECK(waitpid(pid, &status, 0));
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) _exit(3);
}

static void new_session(void) { CHECK(setsid()); }
static void new_group(void) { CHECK(setpgid(0, 0)); }
static void drop_ids(void) { CHECK(setgid(65534)); CHECK(setuid(65534)); }
static void drop_caps(void) {
    struct __user_cap_header_struct hdr = {_LINUX_CAPABILITY_VERSION_3, 0};
    struct __user_cap_data_struct data[2];
    CHECK(syscall(SYS_capget, &hdr, data));
    data[0].effective = 0; data[1].effective = 0;
    data[0].inheritable = 0; data[1].inheritable = 0;
    CHECK(syscall(SYS_capset, &hdr, data));
}

static void stdout_to_pipe(void) {
    int p[2];
    CHECK(pipe(p));
    CHECK(dup2(p[1], 1));
    char *argv[] = {"true", NULL};
    execv("/bin/true", argv);
    _exit(3);
}

int main(int argc, char **argv) {
    if (argc < 3) return 2;
    const char *work = argv[1];
    int nopens = atoi(argv[2]);
    devnull = open("/dev/null", O_WRONLY);
    CHECK(devnull);

    /* cwd: relative open and mkdir after chdir */
    char a[4096];
    snprintf(a, sizeof a, "%s/a", work);
    CHECK(chdir(a));
    probe();
    int f1 = open("b/f", O_RDONLY);
    CHECK(f1);
    CHECK(write(devnull, "x", 0));
    MKDIRAT(AT_FDCWD, "m1");

    /* fd table: a dirfd duplicated the way find does it, then paths relative to it */
    int dir = open("b", O_RDONLY | O_DIRECTORY);
    CHECK(dir);
    int dir2 = fcntl(dir, F_DUPFD_CLOEXEC, 20);
    CHECK(dir2);
    int f2 = openat(dir2, "f", O_RDONLY);
    CHECK(f2);
    MKDIRAT(dir2, "m2");
    for (int i = 0; i < nopens; i++) {
        int fd = openat(dir2, "f", O_RDONLY);
        CHECK(fd);
        close(fd);
    }

    /* cwd from a directory fd */
    CHECK(fchdir(dir2));
    probe();
    int f3 = open("f", O_RDONLY);
    CHECK(f3);
    MKDIRAT(AT_FDCWD, "m3");

    /* other fd kinds: a pipe on fd 1 of an exec'd child, a connected UDP socket, reused numbers */
    in_child(stdout_to_pipe);
    int s = socket(AF_INET, SOCK_DGRAM, 0);
    CHECK(s);
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons(9)};
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    CHECK(connect(s, (struct sockaddr *)&sin, sizeof sin));
    CHECK(write(s, "u", 1));
    close(f1);
    int p[2];
    CHECK(pipe(p)); /* takes f1's number */
    CHECK(write(p[1], "p", 1));
    CHECK(dup2(p[1], devnull + 30));
    CHECK(write(devnull + 30, "p", 1));

    /* session and process group, credentials, capabilities: each in a child */
    in_child(new_session);
    in_child(new_group);
    if (geteuid() == 0) {
        in_child(drop_ids);
        in_child(drop_caps);
    }
    probe();
    return 0;
}

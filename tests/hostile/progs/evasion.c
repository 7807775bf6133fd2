/* evasion MODE ARGS: the alternative entries an attacker would use to avoid the plain syscalls.
 * Each mode prints "MODE res=R" (R = return value, or -errno) and whatever ids the test needs.
 *   openat2 PATH [w]         openat2(AT_FDCWD, PATH, {O_RDONLY | O_WRONLY|O_CREAT})
 *   execveat PATH ARGS...    fork; the child execveat(AT_FDCWD, PATH, ...); the parent waits
 *   execveat-fd PATH ARGS... fork; the child execveat(open(PATH, O_PATH), "", AT_EMPTY_PATH)
 *   memfd-exec PATH ARGS...  fork; the child copies PATH into a memfd and execveat's it
 *   int80-open PATH          open(PATH) through the i386 entry (int 0x80, nr 5)
 *   int80-execve PATH ARG    execve(PATH, [PATH, ARG]) through int 0x80 (nr 11), in a child
 *   renameat2 OLD NEW        renameat2(AT_FDCWD, OLD, AT_FDCWD, NEW, RENAME_NOREPLACE)
 *   clone3 MARKER [parent]   raw clone3 without CLONE_THREAD (optionally CLONE_PARENT); the child
 *                            opens MARKER and exits 9; prints "parent PID child CPID"
 *   io_uring MARKER          io_uring_setup, then IORING_OP_OPENAT of MARKER through the ring */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/io_uring.h>
#include <linux/openat2.h>
#include <linux/sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

static long ret(long r) { return r < 0 ? -errno : r; }

static int wait_child(pid_t pid) {
    int st;
    if (waitpid(pid, &st, 0) != pid) return -1;
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

#if defined(__x86_64__)
static long int80(long nr, long a, long b, long c) {
    long r;
    __asm__ volatile("int $0x80" : "=a"(r) : "a"(nr), "b"(a), "c"(b), "d"(c) : "memory");
    return r;
}

static char *low_copy(const char *s) { /* a string the 32-bit ABI can address */
    char *p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_32BIT, -1, 0);
    if (p == MAP_FAILED) { perror("mmap"); exit(1); }
    snprintf(p, 4096, "%s", s);
    return p;
}
#endif

static int uring_open(const char *path) {
    struct io_uring_params p;
    memset(&p, 0, sizeof p);
    int ring = syscall(__NR_io_uring_setup, 4, &p);
    if (ring < 0) return -errno;
    size_t sq_sz = p.sq_off.array + p.sq_entries * sizeof(unsigned);
    size_t cq_sz = p.cq_off.cqes + p.cq_entries * sizeof(struct io_uring_cqe);
    char *sq = mmap(NULL, sq_sz, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, ring, IORING_OFF_SQ_RING);
    char *cq = mmap(NULL, cq_sz, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, ring, IORING_OFF_CQ_RING);
    struct io_uring_sqe *sqes = mmap(NULL, p.sq_entries * sizeof(struct io_uring_sqe), PROT_READ | PROT_WRITE,
                                     MAP_SHARED | MAP_POPULATE, ring, IORING_OFF_SQES);
    if (sq == MAP_FAILED || cq == MAP_FAILED || sqes == MAP_FAILED) return -ENOMEM;
    unsigned *tail = (unsigned *)(sq + p.sq_off.tail), *mask = (unsigned *)(sq + p.sq_off.ring_mask);
    unsigned *array = (unsigned *)(sq + p.sq_off.array);
    unsigned idx = *tail & *mask;
    struct io_uring_sqe *e = &sqes[idx];
    memset(e, 0, sizeof *e);
    e->opcode = IORING_OP_OPENAT;
    e->fd = AT_FDCWD;
    e->addr = (uint64_t)(uintptr_t)path;
    e->open_flags = O_RDONLY;
    e->user_data = 42;
    array[idx] = idx;
    __atomic_store_n(tail, *tail + 1, __ATOMIC_RELEASE);
    if (syscall(__NR_io_uring_enter, ring, 1, 1, IORING_ENTER_GETEVENTS, NULL, 0) < 0) return -errno;
    unsigned *chead = (unsigned *)(cq + p.cq_off.head), *cmask = (unsigned *)(cq + p.cq_off.ring_mask);
    struct io_uring_cqe *cqes = (struct io_uring_cqe *)(cq + p.cq_off.cqes);
    unsigned h = __atomic_load_n(chead, __ATOMIC_ACQUIRE);
    int res = cqes[h & *cmask].res;
    __atomic_store_n(chead, h + 1, __ATOMIC_RELEASE);
    printf("ring fd %d\n", ring);
    return res;
}

int main(int argc, char **argv) {
    if (argc < 3) return 2;
    const char *mode = argv[1];
    long r;
    if (!strcmp(mode, "openat2")) {
        struct open_how how = {0};
        how.flags = argc > 3 ? (O_WRONLY | O_CREAT) : O_RDONLY;
        how.mode = argc > 3 ? 0600 : 0;
        r = ret(syscall(__NR_openat2, AT_FDCWD, argv[2], &how, sizeof how));
    } else if (!strcmp(mode, "execveat") || !strcmp(mode, "execveat-fd") || !strcmp(mode, "memfd-exec")) {
        pid_t pid = fork();
        if (pid == 0) {
            if (!strcmp(mode, "execveat")) {
                syscall(__NR_execveat, AT_FDCWD, argv[2], argv + 2, environ, 0);
            } else {
                int fd;
                if (!strcmp(mode, "execveat-fd")) {
                    fd = open(argv[2], O_PATH);
                } else {
                    fd = memfd_create("hostile", MFD_CLOEXEC);
                    int src = open(argv[2], O_RDONLY);
                    struct stat st;
                    fstat(src, &st);
                    if (sendfile(fd, src, NULL, st.st_size) != st.st_size) _exit(126);
                }
                syscall(__NR_execveat, fd, "", argv + 2, environ, AT_EMPTY_PATH);
            }
            _exit(127);
        }
        printf("child %d\n", (int)pid);
        r = wait_child(pid);
#if defined(__x86_64__)
    } else if (!strcmp(mode, "int80-open")) {
        r = int80(5, (long)low_copy(argv[2]), O_RDONLY, 0);
    } else if (!strcmp(mode, "int80-execve")) {
        pid_t pid = fork();
        if (pid == 0) {
            char *path = low_copy(argv[2]), *arg = low_copy(argc > 3 ? argv[3] : "");
            uint32_t *av = (uint32_t *)low_copy(""), *ev = av + 8;
            av[0] = (uint32_t)(uintptr_t)path;
            av[1] = (uint32_t)(uintptr_t)arg;
            av[2] = 0;
            ev[0] = 0;
            long e = int80(11, (long)path, (long)av, (long)ev);
            printf("int80-execve-child res=%ld\n", e);
            fflush(stdout);
            _exit(e == -ENOSYS ? 38 : 127);
        }
        printf("child %d\n", (int)pid);
        fflush(stdout);
        r = wait_child(pid);
#endif
    } else if (!strcmp(mode, "renameat2")) {
        if (argc < 4) return 2;
        r = ret(syscall(__NR_renameat2, AT_FDCWD, argv[2], AT_FDCWD, argv[3], RENAME_NOREPLACE));
    } else if (!strcmp(mode, "clone3")) {
        struct clone_args ca;
        memset(&ca, 0, sizeof ca);
        ca.flags = argc > 3 ? CLONE_PARENT : 0;
        ca.exit_signal = argc > 3 ? 0 : SIGCHLD; /* clone3 refuses CLONE_PARENT with a signal */
        fflush(stdout);
        long pid = syscall(__NR_clone3, &ca, sizeof ca);
        if (pid == 0) {
            int fd = open(argv[2], O_RDONLY);
            if (fd >= 0) close(fd);
            _exit(9);
        }
        if (pid < 0) { printf("clone3 res=%d\n", -errno); return 1; }
        printf("parent %d child %ld\n", (int)getpid(), pid);
        fflush(stdout);
        if (argc > 3) { usleep(300000); r = 0; }  /* a sibling: our parent reaps it */
        else r = wait_child(pid);
    } else if (!strcmp(mode, "io_uring")) {
        r = uring_open(argv[2]);
    } else {
        return 2;
    }
    printf("%s res=%ld\n", mode, r);
    return 0;
}

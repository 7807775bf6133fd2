/* Small, harmless versions of attacker actions that the upstream Falco rules look for.
 *
 * Each subcommand makes the real syscall a rule watches; none of them changes the system:
 * a failed module load, a ptrace attach that detaches at once, a packet socket that is
 * closed unused, a memfd copy of a harmless binary.
 *
 *   actions ptrace-attach PID      PTRACE_ATTACH to PID, wait for the stop, PTRACE_DETACH
 *   actions ptrace-traceme         PTRACE_TRACEME (anti-debug; fails under a tracer, that is fine)
 *   actions packet-socket          socket(AF_PACKET, SOCK_RAW, 0), then close
 *   actions init-module            init_module() on a garbage image (the kernel refuses it)
 *   actions finit-module FILE      finit_module() on FILE (a garbage file: refused)
 *   actions memfd-exec PROG ARG..  copy PROG into a memfd and execveat() it (fileless execution)
 *   actions memfd-exec-path PROG ARG..  the same, but execve("/proc/self/fd/N") (event-generator's way)
 *   actions userfaultfd            userfaultfd(UFFD_USER_MODE_ONLY), then close (allowed unprivileged)
 *   actions bpf-prog-load          bpf(BPF_PROG_LOAD) with an empty program (the kernel refuses it)
 *   actions setuid UID             setuid(UID) (exit 0 if it worked; a refusal is fine too)
 *   actions chroot-read DIR PATH   chroot(DIR), then open PATH for reading (a container's view of
 *                                  a host filesystem mounted at DIR/host)
 *
 * Exit status: 0 when the action was carried out (an expected refusal by the kernel counts),
 * 2 on bad usage, 1 when something needed for the action itself failed.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef AF_PACKET
#define AF_PACKET 17
#endif

static int ptrace_attach(pid_t pid) {
    if (ptrace(PTRACE_ATTACH, pid, NULL, NULL) != 0) {
        printf("attach: %s\n", strerror(errno));
        return 0; /* the attempt is what the rule sees */
    }
    int st;
    waitpid(pid, &st, __WALL);
    ptrace(PTRACE_DETACH, pid, NULL, NULL);
    printf("attach: ok\n");
    return 0;
}

static int ptrace_traceme(void) {
    long r = ptrace(PTRACE_TRACEME, 0, NULL, NULL);
    printf("traceme: %s\n", r == 0 ? "ok" : strerror(errno));
    return 0;
}

static int packet_socket(void) {
    int fd = socket(AF_PACKET, SOCK_RAW, 0);
    printf("packet socket: %s\n", fd >= 0 ? "ok" : strerror(errno));
    if (fd >= 0)
        close(fd);
    return 0;
}

static int init_module_garbage(void) {
    static const char image[64] = "not an ELF kernel module";
    long r = syscall(SYS_init_module, image, sizeof image, "");
    printf("init_module: %s\n", r == 0 ? "loaded?!" : strerror(errno));
    return 0;
}

static int finit_module_file(const char *path) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        perror(path);
        return 1;
    }
    long r = syscall(SYS_finit_module, fd, "", 0);
    printf("finit_module: %s\n", r == 0 ? "loaded?!" : strerror(errno));
    close(fd);
    return 0;
}

static int memfd_exec(char **argv, int by_path) {
    int src = open(argv[0], O_RDONLY | O_CLOEXEC);
    if (src < 0) {
        perror(argv[0]);
        return 1;
    }
    int mfd = (int)syscall(SYS_memfd_create, "payload", 0);
    if (mfd < 0) {
        perror("memfd_create");
        return 1;
    }
    char buf[65536];
    ssize_t n;
    while ((n = read(src, buf, sizeof buf)) > 0) {
        if (write(mfd, buf, (size_t)n) != n) {
            perror("write");
            return 1;
        }
    }
    close(src);
    extern char **environ;
    if (by_path) {
        char path[64];
        snprintf(path, sizeof path, "/proc/self/fd/%d", mfd);
        execve(path, argv, environ);
        perror("execve");
        return 1;
    }
    syscall(SYS_execveat, mfd, "", argv, environ, AT_EMPTY_PATH);
    perror("execveat");
    return 1;
}

static int userfaultfd_user_mode(void) {
    /* UFFD_USER_MODE_ONLY (1): the mode an unprivileged user may use since Linux 5.11. */
    int fd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | 1);
    printf("userfaultfd: %s\n", fd >= 0 ? "ok" : strerror(errno));
    if (fd >= 0)
        close(fd);
    return fd >= 0 ? 0 : 1;
}

static int bpf_prog_load_empty(void) {
    /* union bpf_attr for BPF_PROG_LOAD (5): prog_type, insn_cnt, insns, license ...; all zero
     * means "no instructions", which the verifier rejects with EINVAL. */
    unsigned char attr[128];
    memset(attr, 0, sizeof attr);
    long r = syscall(SYS_bpf, 5, attr, sizeof attr);
    printf("bpf(BPF_PROG_LOAD): %s\n", r >= 0 ? "loaded?!" : strerror(errno));
    if (r >= 0)
        close((int)r);
    return 0;
}

static int set_uid(const char *uid) {
    long r = syscall(SYS_setuid, atoi(uid));
    printf("setuid(%s): %s\n", uid, r == 0 ? "ok" : strerror(errno));
    return 0;
}

static int chroot_read(const char *dir, const char *path) {
    if (chroot(dir) != 0 || chdir("/") != 0) {
        perror("chroot");
        return 1;
    }
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    printf("open %s: %s\n", path, fd >= 0 ? "ok" : strerror(errno));
    if (fd >= 0)
        close(fd);
    return fd >= 0 ? 0 : 1;
}

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IONBF, 0);
    if (argc < 2)
        return 2;
    const char *cmd = argv[1];
    if (!strcmp(cmd, "ptrace-attach") && argc == 3)
        return ptrace_attach((pid_t)atoi(argv[2]));
    if (!strcmp(cmd, "ptrace-traceme"))
        return ptrace_traceme();
    if (!strcmp(cmd, "packet-socket"))
        return packet_socket();
    if (!strcmp(cmd, "init-module"))
        return init_module_garbage();
    if (!strcmp(cmd, "finit-module") && argc == 3)
        return finit_module_file(argv[2]);
    if (!strcmp(cmd, "memfd-exec") && argc >= 3)
        return memfd_exec(argv + 2, 0);
    if (!strcmp(cmd, "memfd-exec-path") && argc >= 3)
        return memfd_exec(argv + 2, 1);
    if (!strcmp(cmd, "userfaultfd"))
        return userfaultfd_user_mode();
    if (!strcmp(cmd, "bpf-prog-load"))
        return bpf_prog_load_empty();
    if (!strcmp(cmd, "setuid") && argc == 3)
        return set_uid(argv[2]);
    if (!strcmp(cmd, "chroot-read") && argc == 4)
        return chroot_read(argv[2], argv[3]);
    fprintf(stderr, "actions: unknown or incomplete subcommand %s\n", cmd);
    return 2;
}

/* N openat() calls of a missing path and N getppid() (untraced): for µs/stop measurements. */
#include <fcntl.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>

int main(int argc, char **argv) {
    long n = argc > 1 ? atol(argv[1]) : 10000;
    const char *kind = argc > 2 ? argv[2] : "openat";
    for (long i = 0; i < n; i++) {
        if (kind[0] == 'o') openat(AT_FDCWD, "/nonexistent/dir/file.txt", O_RDONLY);
        else syscall(SYS_getppid);
    }
    return 0;
}

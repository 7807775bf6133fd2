/* open/read/close every file of a directory tree made by bench/overhead.py.
 *
 * usage: files DIR COUNT   -- opens DIR/f<i> for i in [0, COUNT), reads it to
 * the end (two read calls for a 100-byte file: data, then EOF) and closes it.
 * Per file: 1 openat, 2 read, 1 close. Exit 1 if a file is missing.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: %s DIR COUNT\n", argv[0]);
        return 2;
    }
    int count = atoi(argv[2]);
    char path[4096];
    char buf[4096];
    long total = 0;
    for (int i = 0; i < count; i++) {
        snprintf(path, sizeof path, "%s/f%d", argv[1], i);
        int fd = open(path, O_RDONLY);
        if (fd < 0) {
            perror(path);
            return 1;
        }
        ssize_t n;
        while ((n = read(fd, buf, sizeof buf)) > 0)
            total += n;
        close(fd);
    }
    printf("%ld\n", total);
    return 0;
}

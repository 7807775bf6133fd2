/* Writes every byte value 0..255 twice, then a line without newline. */
#include <unistd.h>

int main(void) {
    unsigned char buf[512];
    for (int i = 0; i < 512; i++) buf[i] = (unsigned char)(i & 0xff);
    write(1, buf, sizeof buf);
    write(1, "tail-no-newline", 15);
    return 0;
}

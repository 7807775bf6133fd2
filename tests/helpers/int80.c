/* x86_64 only: getpid through the i386 entry point (int 0x80, nr 20). Prints the result. */
#include <stdio.h>
#include <unistd.h>

int main(void) {
    long ret;
    __asm__ volatile("int $0x80" : "=a"(ret) : "a"(20L) : "memory");
    printf("int80=%ld native=%ld\n", ret, (long)getpid());
    return 0;
}

/* Calls into the Rust static library. */
#include <stdio.h>
unsigned rust_work(unsigned n);
int main(void)
{
    printf("c: rust_work(10) = %u\n", rust_work(10));
    fflush(stdout);
    printf("c: rust_work(2) = %u\n", rust_work(2));
    return 0;
}

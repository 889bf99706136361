/* Non-local exits: longjmp to a handler installed in another object, and
 * exit() from the bottom of a recursion. */
#include <stdio.h>
#include <stdlib.h>
#include "runtime.h"

jmp_buf *active_handler;

void raise_failure(int code)
{
    fprintf(stderr, "raise_failure(%d)\n", code);
    longjmp(*active_handler, code);
}

int checked_divide(int a, int b)
{
    if (b == 0)
        raise_failure(100 + a);
    return a / b;
}

int descend(int depth, int fail_at)
{
    volatile int local = depth * 3;
    if (depth == fail_at)
        raise_failure(depth);
    if (depth == 0)
        return local;
    return descend(depth - 1, fail_at) + local;
}

void finish_deep(int depth, int status)
{
    if (depth > 0) {
        printf("finish_deep(%d)\n", depth);
        finish_deep(depth - 1, status);
    }
    fprintf(stderr, "exiting with status %d from the bottom\n", status);
    printf("last stdout words, no newline, never flushed by hand");
    exit(status);
}

/* "runtime": varargs, setjmp/longjmp across objects, errno, interleaved
 * stdout/stderr, stdin, the environment, and an exit(3) from deep inside.
 * Usage: runtime NUMBER...  (each NUMBER is parsed with strtol);
 * reads lines from stdin and prints the variable JITLINK_TEST_GREETING. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "runtime.h"

static void parse_numbers(int count, char **texts)
{
    for (int i = 0; i < count; i++) {
        char *end;
        errno = 0;
        long v = strtol(texts[i], &end, 10);
        int saved = errno;
        if (saved)
            printf("strtol(\"%s\"): %s (ERANGE=%s) value %s\n", texts[i], strerror(saved),
                   saved == ERANGE ? "yes" : "no", v == LONG_MAX ? "LONG_MAX" : v == LONG_MIN ? "LONG_MIN" : "other");
        else if (*end)
            printf("strtol(\"%s\"): %ld, trailing \"%s\"\n", texts[i], v, end);
        else
            printf("strtol(\"%s\"): %ld\n", texts[i], v);
    }
}

static int guarded(int a, int b)
{
    jmp_buf here;
    jmp_buf *outer = active_handler;
    int code;
    active_handler = &here;
    if ((code = setjmp(here)) == 0) {
        int r = checked_divide(a, b);
        active_handler = outer;
        return r;
    }
    active_handler = outer;
    printf("guarded(%d, %d) caught %d\n", a, b, code);
    return -code;
}

int main(int argc, char **argv)
{
    char buf[256];

    printf("== varargs ==\n");
    mini_format(buf, sizeof buf, "mini: %d %ld %u %x %s %c %% %d", -42, -1234567890123L, 4000000000u,
                0xbeefu, "text", 'Z', 0);
    printf("%s\n", buf);
    libc_format(buf, sizeof buf, "libc: %d %ld %u %x %s %c %% %.3f", -42, -1234567890123L, 4000000000u,
                0xbeefu, "text", 'Z', 2.71828);
    printf("%s\n", buf);
    int n = mini_format(buf, 8, "truncated %s", "output");
    printf("truncated to \"%s\", wanted %d\n", buf, n);
    printf("sum_doubles = %.4f\n", sum_doubles(9, 0.5, 1.25, 2.0, 3.5, 4.75, 5.0, 6.125, 7.0, 8.5));
    int seven = 7;
    printf("sum_mixed = %ld\n", sum_mixed("ildpildpi", 1, 2L, 3.9, &seven, 10, 20L, 30.5, &seven, 100));

    printf("== streams ==\n");
    fflush(stdout);
    for (int i = 0; i < 3; i++) {
        log_to(stdout, "out", "line %d to stdout", i);
        log_to(stderr, "err", "line %d to stderr", i);
    }

    printf("== setjmp/longjmp ==\n");
    printf("guarded(84, 2) = %d\n", guarded(84, 2));
    printf("guarded(5, 0) = %d\n", guarded(5, 0));
    jmp_buf top;
    active_handler = &top;
    volatile int attempts = 0;
    int code = setjmp(top);
    attempts++;
    if (code == 0)
        printf("descend(5, -1) = %d\n", descend(5, -1));
    if (code == 0 || code == 4)
        printf("descend(6, %d) = %d\n", code == 0 ? 4 : 2, descend(6, code == 0 ? 4 : 2));
    printf("after jumps: code %d, attempts %d\n", code, attempts);

    printf("== errno ==\n");
    parse_numbers(argc - 1, argv + 1);
    errno = 0;
    FILE *f = fopen("no-such-file-for-jitlink-tests.txt", "r");
    printf("fopen missing: %s, errno %s: %s\n", f ? "opened (wrong)" : "NULL", errno == ENOENT ? "ENOENT" : "other",
           strerror(errno));
    errno = 0;
    double big = strtod("1e999", NULL);
    printf("strtod(1e999): inf=%s errno=%s\n", big > 1e308 ? "yes" : "no", errno == ERANGE ? "ERANGE" : "other");

    printf("== stdin and environment ==\n");
    int lines = 0, chars = 0;
    while (fgets(buf, sizeof buf, stdin)) {
        lines++;
        chars += (int)strlen(buf);
        buf[strcspn(buf, "\n")] = 0;
        printf("stdin line %d: \"%s\"\n", lines, buf);
    }
    printf("stdin: %d lines, %d chars\n", lines, chars);
    const char *greeting = getenv("JITLINK_TEST_GREETING");
    printf("JITLINK_TEST_GREETING=%s\n", greeting ? greeting : "(unset)");

    fprintf(stderr, "about to finish\n");
    finish_deep(4, 3);
    return 0;
}

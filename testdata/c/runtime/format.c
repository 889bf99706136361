/* Variadic functions: a small printf-like formatter of our own built on
 * va_list, the same through vsnprintf, and variadic sums of mixed types. */
#include <stdio.h>
#include <string.h>
#include "runtime.h"

static size_t put_char(char *out, size_t cap, size_t pos, char c)
{
    if (pos + 1 < cap)
        out[pos] = c;
    return pos + 1;
}

static size_t put_unsigned(char *out, size_t cap, size_t pos, unsigned long v, unsigned base)
{
    char digits[32];
    int n = 0;
    do {
        digits[n++] = "0123456789abcdef"[v % base];
        v /= base;
    } while (v);
    while (n)
        pos = put_char(out, cap, pos, digits[--n]);
    return pos;
}

/* Supports %d %ld %u %x %s %c %%. */
int mini_vformat(char *out, size_t cap, const char *fmt, va_list ap)
{
    size_t pos = 0;
    for (const char *p = fmt; *p; p++) {
        if (*p != '%') {
            pos = put_char(out, cap, pos, *p);
            continue;
        }
        int is_long = 0;
        p++;
        if (*p == 'l') {
            is_long = 1;
            p++;
        }
        switch (*p) {
        case 'd': {
            long v = is_long ? va_arg(ap, long) : va_arg(ap, int);
            if (v < 0) {
                pos = put_char(out, cap, pos, '-');
                pos = put_unsigned(out, cap, pos, 0ul - (unsigned long)v, 10);
            } else {
                pos = put_unsigned(out, cap, pos, (unsigned long)v, 10);
            }
            break;
        }
        case 'u':
            pos = put_unsigned(out, cap, pos, is_long ? va_arg(ap, unsigned long) : va_arg(ap, unsigned), 10);
            break;
        case 'x':
            pos = put_unsigned(out, cap, pos, is_long ? va_arg(ap, unsigned long) : va_arg(ap, unsigned), 16);
            break;
        case 's': {
            const char *s = va_arg(ap, const char *);
            while (*s)
                pos = put_char(out, cap, pos, *s++);
            break;
        }
        case 'c':
            pos = put_char(out, cap, pos, (char)va_arg(ap, int));
            break;
        case '%':
            pos = put_char(out, cap, pos, '%');
            break;
        default:
            pos = put_char(out, cap, pos, '?');
            break;
        }
    }
    if (cap)
        out[pos < cap ? pos : cap - 1] = 0;
    return (int)pos;
}

int mini_format(char *out, size_t cap, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = mini_vformat(out, cap, fmt, ap);
    va_end(ap);
    return n;
}

int libc_format(char *out, size_t cap, const char *fmt, ...)
{
    va_list ap, copy;
    va_start(ap, fmt);
    va_copy(copy, ap);
    int needed = vsnprintf(NULL, 0, fmt, copy);
    va_end(copy);
    int n = vsnprintf(out, cap, fmt, ap);
    va_end(ap);
    return needed == n ? n : -1;
}

void log_to(FILE *stream, const char *tag, const char *fmt, ...)
{
    va_list ap;
    fprintf(stream, "[%s] ", tag);
    va_start(ap, fmt);
    vfprintf(stream, fmt, ap);
    va_end(ap);
    fputc('\n', stream);
}

double sum_doubles(int count, ...)
{
    va_list ap;
    double total = 0;
    va_start(ap, count);
    for (int i = 0; i < count; i++)
        total += va_arg(ap, double);
    va_end(ap);
    return total;
}

/* kinds: 'i' int, 'l' long, 'd' double (truncated), 'p' pointer to int */
long sum_mixed(const char *kinds, ...)
{
    va_list ap;
    long total = 0;
    va_start(ap, kinds);
    for (const char *k = kinds; *k; k++) {
        switch (*k) {
        case 'i': total += va_arg(ap, int); break;
        case 'l': total += va_arg(ap, long); break;
        case 'd': total += (long)va_arg(ap, double); break;
        case 'p': total += *va_arg(ap, int *); break;
        }
    }
    va_end(ap);
    return total;
}

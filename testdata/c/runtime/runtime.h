/* Shared declarations of the "runtime" test program: varargs, non-local
 * jumps, errno, both output streams and exit() from deep inside. */
#ifndef RUNTIME_H
#define RUNTIME_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>

/* format.c */
int mini_vformat(char *out, size_t cap, const char *fmt, va_list ap);
int mini_format(char *out, size_t cap, const char *fmt, ...);
int libc_format(char *out, size_t cap, const char *fmt, ...);
void log_to(FILE *stream, const char *tag, const char *fmt, ...);
double sum_doubles(int count, ...);
long sum_mixed(const char *kinds, ...);

/* jumps.c */
extern jmp_buf *active_handler;
void raise_failure(int code);
int checked_divide(int a, int b);
int descend(int depth, int fail_at);
_Noreturn void finish_deep(int depth, int status);

#endif

#include <stdarg.h>
static int calls;
long many_args(long a, long b, long c, long d, long e, long f, long g, long h,
               double x0, double x1, double x2, double x3, double x4, double x5,
               double x6, double x7) {
    calls++;
    return a + 2 * b + 3 * c + 4 * d + 5 * e + 6 * f + 7 * g + 8 * h +
           (long)(x0 * 1 + x1 * 10 + x2 * 100 + x3 * 1000 + x4 * 10000 + x5 * 100000 +
                  x6 * 1000000 + x7 * 10000000);
}
double stack_args(int a, int b, int c, int d, int e, int f, double x0, double x1,
                  double x2, double x3, double x4, double x5, double x6, double x7,
                  double x8, int g, long h, float y) {
    calls++;
    return a + b * 2 + c * 3 + d * 4 + e * 5 + f * 6 + x0 + x1 * 2 + x2 * 3 + x3 * 4 +
           x4 * 5 + x5 * 6 + x6 * 7 + x7 * 8 + x8 * 9 + g * 10 + h * 11 + y * 12;
}
int sum_varargs(int n, ...) {
    va_list ap;
    int s = 0;
    va_start(ap, n);
    for (int i = 0; i < n; i++) s += va_arg(ap, int);
    va_end(ap);
    calls++;
    return s;
}

/* Variadic doubles: the caller sets al to the number of vector registers used; the callee's
 * prologue saves xmm0-xmm7 only if al is non-zero, so the resolver must preserve rax. */
double sum_doubles(int n, ...) {
    va_list ap;
    double s = 0;
    va_start(ap, n);
    for (int i = 0; i < n; i++) s += va_arg(ap, double) * (i + 1);
    va_end(ap);
    return s;
}

/* Calls of the three functions above: one static shared by all of them. */
int args_calls(void) { return calls; }

/* Hot kernels for the re-optimizer. Compiled at -O0 (tier 0) and -O2 (tier 1): both versions
 * update the same global and file-static state, which must survive the tier-up. */
#include <stddef.h>

#ifdef RESIZED
long kernel_calls[2];       /* this build's global has a different size: it cannot be bound */
#define CALLS kernel_calls[0]
#else
long kernel_calls;          /* global: counts calls of both kernels, in every version */
#define CALLS kernel_calls
#endif
static unsigned long checksum;     /* file-static: mixes every result, in every version */
#ifdef EXTRA_STATE
static long extra_state;    /* only in this build: has no counterpart in tier 0 */
#endif

/* Sum of squares over n elements. */
long kernel_sum(const int *a, int n) {
    long s = 0;
    for (int i = 0; i < n; i++)
        s += (long)a[i] * a[i];
    CALLS++;
    checksum = checksum * 31 + (unsigned long)s;
#ifdef EXTRA_STATE
    extra_state++;
#endif
    return s;
}

/* A small polynomial evaluated at n points. */
double kernel_poly(const double *x, int n) {
    double s = 0;
    for (int i = 0; i < n; i++) {
        double v = x[i];
        s += ((((v * 0.5 + 1.0) * v - 2.0) * v + 3.0) * v - 4.0) * v;
    }
    CALLS++;
    checksum = checksum * 17 + (unsigned long)(long)s;
    return s;
}

/* A tiny bytecode interpreter with computed gotos: its dispatch table is a `const` static of
 * label addresses (in .data.rel.ro), which each version must have for itself. */
long kernel_dispatch(const unsigned char *code, int n) {
    static const void *const table[] = {&&op_add, &&op_mul, &&op_sub, &&op_end};
    long acc = 1;
    int pc = 0;
#define NEXT() goto *table[pc < n ? code[pc++] & 3 : 3]
    NEXT();
op_add:
    acc += pc;
    NEXT();
op_mul:
    acc = acc * 3 % 1000003;
    NEXT();
op_sub:
    acc -= 7;
    NEXT();
op_end:
    CALLS++;
    checksum = checksum * 13 + (unsigned long)acc;
    return acc;
#undef NEXT
}

unsigned long kernel_checksum(void) { return checksum; }

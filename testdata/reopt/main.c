/* Drives the kernels: ROUNDS rounds of calls, then prints the results and the state that both
 * tiers share. With a first argument "time", prints the time of each tenth of the run too. */
#include <stdio.h>
#include <string.h>
#include <time.h>

long kernel_sum(const int *a, int n);
double kernel_poly(const double *x, int n);
unsigned long kernel_checksum(void);
long kernel_dispatch(const unsigned char *code, int n);
extern long kernel_calls;

#define N 4096

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

int main(int argc, char **argv) {
    static int a[N];
    static double x[N];
    static unsigned char code[N];
    int rounds = 2000;
    int timing = argc > 1 && strcmp(argv[1], "time") == 0;
    if (argc > 2) sscanf(argv[2], "%d", &rounds);
    for (int i = 0; i < N; i++) {
        a[i] = (i * 7919) % 10007;
        x[i] = (i % 100) * 0.01;
        code[i] = (unsigned char)(i * 31 % 7);
    }
    long s = 0;
    double p = 0;
    double t0 = now();
    for (int r = 0; r < rounds; r++) {
        s = (s + kernel_sum(a, N - r % 7)) % 1000003;
        p += kernel_poly(x, N - r % 5);
        if (r % 4 == 0)
            s = (s + kernel_dispatch(code, 1000 + r % 11)) % 1000003;
        if (timing && (r + 1) % (rounds / 10 > 0 ? rounds / 10 : 1) == 0) {
            double t1 = now();
            printf("rounds %5d-%5d: %8.3f ms\n", r + 1 - rounds / 10, r + 1, (t1 - t0) * 1e3);
            fflush(stdout);
            t0 = t1;
        }
    }
    printf("sum %ld poly %.6e calls %ld checksum %lu\n", s, p, kernel_calls, kernel_checksum());
    return 0;
}

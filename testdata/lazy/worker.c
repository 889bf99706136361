long worker(long id, double scale, long a, long b, long c, long d, long e, long f, long g) {
    return (long)(id * 1000 * scale) + a + 2 * b + 3 * c + 4 * d + 5 * e + 6 * f + 7 * g;
}

/* Never called: with -ffunction-sections this object is linked one function at a time. */
long worker_twice(long x) { return 2 * x; }

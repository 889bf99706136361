long worker(long id, double scale, long a, long b, long c, long d, long e, long f, long g) {
    return (long)(id * 1000 * scale) + a + 2 * b + 3 * c + 4 * d + 5 * e + 6 * f + 7 * g;
}

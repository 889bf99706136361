/* Calls mix256 (and mix512 when compiled with -mavx512f) for the first time, so that with
 * `jitlink --lazy` the vector arguments pass through the runtime's resolver; prints every lane. */
#include <immintrin.h>
#include <stdio.h>

__m256d mix256(__m256d, __m256d, __m256d, __m256d, __m256d, __m256d, __m256d, __m256d);
#ifdef __AVX512F__
__m512d mix512(__m512d, __m512d, __m512d, __m512d, __m512d, __m512d, __m512d, __m512d);
#endif

int main(void) {
    __m256d v[8];
    for (int i = 0; i < 8; i++)
        v[i] = _mm256_set_pd(1000.0 * i + 4, 1000.0 * i + 3, 1000.0 * i + 2, 1000.0 * i + 1);
    double out[8];
    _mm256_storeu_pd(out, mix256(v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7]));
    for (int i = 0; i < 4; i++)
        printf("mix256[%d] = %.17g\n", i, out[i]);
#ifdef __AVX512F__
    __m512d w[8];
    for (int i = 0; i < 8; i++)
        w[i] = _mm512_set_pd(100.0 * i + 8, 100.0 * i + 7, 100.0 * i + 6, 100.0 * i + 5,
                             100.0 * i + 4, 100.0 * i + 3, 100.0 * i + 2, 100.0 * i + 1);
    _mm512_storeu_pd(out, mix512(w[0], w[1], w[2], w[3], w[4], w[5], w[6], w[7]));
    for (int i = 0; i < 8; i++)
        printf("mix512[%d] = %.17g\n", i, out[i]);
#endif
    return 0;
}

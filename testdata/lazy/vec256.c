/* Eight __m256d arguments, passed in ymm0-ymm7 (compiled with -mavx). Each argument has its
 * own weight, so a lost upper half or a swapped register changes the result. */
#include <immintrin.h>

__m256d mix256(__m256d a, __m256d b, __m256d c, __m256d d, __m256d e, __m256d f, __m256d g,
               __m256d h) {
    __m256d s = _mm256_mul_pd(a, _mm256_set1_pd(1.0));
    s = _mm256_add_pd(s, _mm256_mul_pd(b, _mm256_set1_pd(3.0)));
    s = _mm256_add_pd(s, _mm256_mul_pd(c, _mm256_set1_pd(7.0)));
    s = _mm256_add_pd(s, _mm256_mul_pd(d, _mm256_set1_pd(15.0)));
    s = _mm256_add_pd(s, _mm256_mul_pd(e, _mm256_set1_pd(31.0)));
    s = _mm256_add_pd(s, _mm256_mul_pd(f, _mm256_set1_pd(63.0)));
    s = _mm256_add_pd(s, _mm256_mul_pd(g, _mm256_set1_pd(127.0)));
    return _mm256_add_pd(s, _mm256_mul_pd(h, _mm256_set1_pd(255.0)));
}

/* Eight __m512d arguments, passed in zmm0-zmm7 (compiled with -mavx512f). */
#include <immintrin.h>

__m512d mix512(__m512d a, __m512d b, __m512d c, __m512d d, __m512d e, __m512d f, __m512d g,
               __m512d h) {
    __m512d s = _mm512_mul_pd(a, _mm512_set1_pd(1.0));
    s = _mm512_add_pd(s, _mm512_mul_pd(b, _mm512_set1_pd(3.0)));
    s = _mm512_add_pd(s, _mm512_mul_pd(c, _mm512_set1_pd(7.0)));
    s = _mm512_add_pd(s, _mm512_mul_pd(d, _mm512_set1_pd(15.0)));
    s = _mm512_add_pd(s, _mm512_mul_pd(e, _mm512_set1_pd(31.0)));
    s = _mm512_add_pd(s, _mm512_mul_pd(f, _mm512_set1_pd(63.0)));
    s = _mm512_add_pd(s, _mm512_mul_pd(g, _mm512_set1_pd(127.0)));
    return _mm512_add_pd(s, _mm512_mul_pd(h, _mm512_set1_pd(255.0)));
}

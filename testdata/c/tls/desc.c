/* cflags-x86_64: -mtls-dialect=gnu2 */
/* Thread-local accesses through TLS descriptors (with -fPIC this emits
 * R_X86_64_GOTPC32_TLSDESC and R_X86_64_TLSDESC_CALL). */
#include "tls.h"

int desc_sum(void)
{
    return tls_counter * 1000 + tls_name[0] + tls_aligned[0];
}

/* Thread-local definitions and functions using them from their own object
 * (local-dynamic or local-exec access, depending on the code model). */
#include <stdio.h>
#include "tls.h"

__thread int tls_counter = 5;
__thread char tls_name[32];
_Thread_local _Alignas(64) unsigned char tls_aligned[64];

static __thread int tls_local = 100;
static __thread long tls_history[16];

int bump_local(int by)
{
    tls_history[tls_local & 15] += by;
    tls_local += by;
    return tls_local;
}

int local_value(void)
{
    long sum = 0;
    for (int i = 0; i < 16; i++)
        sum += tls_history[i];
    return tls_local + (int)sum;
}

const char *describe_thread(void)
{
    static __thread char buf[96];
    snprintf(buf, sizeof buf, "%s: counter %d local %d", tls_name[0] ? tls_name : "(unnamed)", tls_counter,
             local_value());
    return buf;
}

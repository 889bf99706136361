/* Shared declarations of the "tls" test program: thread-local variables
 * defined in one object and used from another, from several threads. */
#ifndef TLS_H
#define TLS_H

extern __thread int tls_counter;       /* initialized: .tdata */
extern __thread char tls_name[32];     /* zero-initialized: .tbss */
extern _Thread_local _Alignas(64) unsigned char tls_aligned[64];

int bump_local(int by);                /* a static __thread in vars.c */
int local_value(void);
const char *describe_thread(void);
int desc_sum(void);                   /* desc.c: TLS descriptors */

#endif

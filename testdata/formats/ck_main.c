#include "ck_common.h"

extern int shared_pick;

static int fold(long long v) { return (int)((unsigned long long)v % 251u); }

int run_checksum(void) {
    unsigned sum = 0;
    for (int i = 0; i < 64; i++) sum = sum * 31 + mix_table[i] * (unsigned)(i + counter);
    for (int i = 0; i < 4; i++) sum ^= (unsigned)(wide[i] >> (i * 3));
    return fold(sum);
}

int run_switch(void) {
    long long acc = 0;
    for (int i = -20; i < 300; i++) acc = acc * 7 + classify(i);
    return fold(acc);
}

int run_pointers(void) {
    long long acc = apply_all(17);
    acc = acc * 3 + apply_all(99);
    op_fn f = entries[2].op;
    acc += f(12345, 678);
    return fold(acc);
}

int run_linkage(void) {
    /* 29 + 5 + 42 + 3 * 7 + 1234 + 1234 */
    return fold(hook_strong() * 1000 + hook_default() * 100 + shared_pick + imported_fn(7) + imported_data);
}

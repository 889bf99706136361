#include "ck_common.h"

PICK_ONE int shared_pick = 42;
static int calls;
static int scratch[96];

int op_add(int a, int b) { calls++; return a + b; }
int op_sub(int a, int b) { calls++; return a - b; }
int op_mulmod(int a, int b) { calls++; return (int)(((long long)a * b) % 1000003); }
int op_xrot(int a, int b) { calls++; unsigned u = (unsigned)a ^ (unsigned)b; return (int)((u << 5) | (u >> 27)); }

int classify(int x) {
    switch (x & 15) {
    case 0: return 19;
    case 1: return x * 3;
    case 2: return x - 40;
    case 3: return 7;
    case 4: return x ^ 0x55;
    case 5: return fib(x & 7);
    case 6: return -x;
    case 7: return 1000;
    case 8: return x / 3;
    case 9: return 81;
    case 10: return x % 7;
    default: return 2;
    }
}

int fib(int n) { return n < 2 ? n : fib(n - 1) + fib(n - 2); }

unsigned hash_name(const char *s) {
    unsigned h = 2166136261u;
    while (*s) h = (h ^ (unsigned char)*s++) * 16777619u;
    return h;
}

int apply_all(int seed) {
    int acc = seed;
    for (int i = 0; i < entry_count; i++) {
        struct entry *e = &entries[i];
        acc = e->op(acc, e->weight * mix_table[(i * 7 + seed) & 63]);
        acc ^= (int)(hash_name(e->name) & 0xffff);
        scratch[(i * 13) % 96] += acc & 0xff;
    }
    for (int i = 0; i < 96; i++) acc += scratch[i] * (i + 1);
    return acc + calls;
}

int hook_strong(void) { return 29; }

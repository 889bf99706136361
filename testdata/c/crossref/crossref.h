/* Shared declarations of the "crossref" test program: calls, data pointers
 * and function pointers that cross object-file boundaries. */
#ifndef CROSSREF_H
#define CROSSREF_H

#include <stddef.h>

struct color {
    const char *name;
    unsigned char r, g, b;
};

/* An entry whose fields point at data and code defined in other objects. */
struct probe {
    const char *label;
    int *counter;                 /* points into table.c's data */
    const struct color *color;    /* points into table.c's .rodata */
    int (*combine)(int, int);     /* a function in ops.c */
};

/* table.c */
extern const struct color palette[];
extern const size_t palette_len;
extern const int primes[16];
extern int counter_a, counter_b;
extern int counters[8];
extern int *const counter_slots[3];
extern const char *const shared_literal_from_table;
const char *table_tail_literal(void);
int next_serial(void);
const char *serial_tag(int serial);

/* ops.c */
int op_add(int a, int b);
int op_mul(int a, int b);
int op_sub(int a, int b);
int eval_op(int opcode, int a, int b);
const char *opcode_name(int opcode);
int cmp_strings(const void *a, const void *b);
int cmp_ints_desc(const void *a, const void *b);
void sort_words(const char **words, size_t n);
int find_word(const char *const *sorted, size_t n, const char *key);
extern int (*const op_table[3])(int, int);

/* main.c */
extern struct probe probes[];
extern const size_t probe_count;

#endif

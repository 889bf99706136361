/* Code of the "crossref" program: arithmetic through a jump-table switch,
 * comparators handed to qsort and bsearch. */
#include <stdlib.h>
#include <string.h>
#include "crossref.h"

int op_add(int a, int b) { return a + b; }
int op_mul(int a, int b) { return a * b; }
int op_sub(int a, int b) { return a - b; }

int (*const op_table[3])(int, int) = {op_add, op_mul, op_sub};

/* Dense cases: compilers turn this into an indirect jump through a table. */
int eval_op(int opcode, int a, int b)
{
    switch (opcode) {
    case 0: return a + b;
    case 1: return a - b;
    case 2: return a * b;
    case 3: return b ? a / b : 0;
    case 4: return b ? a % b : 0;
    case 5: return a & b;
    case 6: return a | b;
    case 7: return a ^ b;
    case 8: return a << (b & 15);
    case 9: return a >> (b & 15);
    case 10: return a > b ? a : b;
    case 11: return a < b ? a : b;
    case 12: return -a;
    case 13: return ~b;
    case 14: return a * a + b * b;
    default: return -1;
    }
}

const char *opcode_name(int opcode)
{
    switch (opcode) {
    case 0: return "add";
    case 1: return "sub";
    case 2: return "mul";
    case 3: return "div";
    case 4: return "mod";
    case 5: return "and";
    case 6: return "or";
    case 7: return "xor";
    case 8: return "shl";
    case 9: return "shr";
    case 10: return "max";
    case 11: return "min";
    case 12: return "neg";
    case 13: return "not";
    case 14: return "sumsq";
    default: return "?";
    }
}

int cmp_strings(const void *a, const void *b)
{
    const char *const *x = a;
    const char *const *y = b;
    return strcmp(*x, *y);
}

int cmp_ints_desc(const void *a, const void *b)
{
    int x = *(const int *)a, y = *(const int *)b;
    return (x < y) - (x > y);
}

void sort_words(const char **words, size_t n)
{
    qsort(words, n, sizeof *words, cmp_strings);
}

int find_word(const char *const *sorted, size_t n, const char *key)
{
    const char *const *hit = bsearch(&key, sorted, n, sizeof *sorted, cmp_strings);
    return hit ? (int)(hit - sorted) : -1;
}

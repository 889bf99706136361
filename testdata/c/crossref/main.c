/* "crossref": cross-object calls and data pointers, function pointers given
 * to libc, jump tables, .rodata, static locals and a non-zero exit code.
 * Usage: crossref WORD...  (the words are sorted and searched). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "crossref.h"

/* Initialized data holding pointers into other objects' data and code. */
struct probe probes[] = {
    {"first", &counter_a, &palette[0], op_add},
    {"fourth-counter", &counters[3], &palette[2], op_mul},
    {"second", &counter_b, &palette[4], op_sub},
};
const size_t probe_count = sizeof probes / sizeof probes[0];

static const char *const shared_literal_from_main = "shared literal: the quick brown fox";

static int total_calls(void)
{
    static int calls;
    return ++calls;
}

int main(int argc, char **argv)
{
    int checksum = 0;

    printf("== probes ==\n");
    for (size_t i = 0; i < probe_count; i++) {
        struct probe *p = &probes[i];
        int before = *p->counter;
        *p->counter = p->combine(*p->counter, (int)i + 2);
        printf("%-15s counter %3d -> %3d  color %-9s #%02x%02x%02x\n", p->label, before,
               *p->counter, p->color->name, p->color->r, p->color->g, p->color->b);
        checksum += *p->counter;
    }
    printf("counter_a=%d counter_b=%d counters[3]=%d\n", counter_a, counter_b, counters[3]);
    for (int i = 0; i < 3; i++)
        printf("slot %d -> %d\n", i, *counter_slots[i]);

    printf("== jump tables ==\n");
    for (int op = 0; op < 16; op++) {
        int r = eval_op(op, 37 + op, 5);
        printf("%-5s(%d, 5) = %d\n", opcode_name(op), 37 + op, r);
        checksum += r;
    }
    for (int i = 0; i < 3; i++)
        printf("op_table[%d](6, 4) = %d\n", i, op_table[i](6, 4));

    printf("== rodata ==\n");
    for (size_t i = 0; i < palette_len; i++)
        printf("palette[%zu] = %s\n", i, palette[i].name);
    int sorted_primes[16];
    memcpy(sorted_primes, primes, sizeof sorted_primes);
    qsort(sorted_primes, 16, sizeof(int), cmp_ints_desc);
    printf("primes descending:");
    for (int i = 0; i < 16; i++)
        printf(" %d", sorted_primes[i]);
    printf("\n");

    printf("== literals ==\n");
    printf("main:  %s\n", shared_literal_from_main);
    printf("table: %s\n", shared_literal_from_table);
    printf("equal contents: %s\n",
           strcmp(shared_literal_from_main, shared_literal_from_table) == 0 ? "yes" : "no");
    printf("tail: %s (%zu chars)\n", table_tail_literal(), strlen(table_tail_literal()));

    printf("== static locals ==\n");
    for (int i = 0; i < 3; i++) {
        int s = next_serial();
        printf("serial %d tag %s calls %d\n", s, serial_tag(s), total_calls());
    }

    printf("== argv (%d words) ==\n", argc - 1);
    const char **words = malloc(sizeof(char *) * (size_t)(argc > 1 ? argc - 1 : 1));
    for (int i = 1; i < argc; i++)
        words[i - 1] = argv[i];
    sort_words(words, (size_t)(argc - 1));
    for (int i = 0; i < argc - 1; i++)
        printf("sorted[%d] = %s\n", i, words[i]);
    static const char *const queries[] = {"alpha", "bravo", "zulu", "echo", "kilo"};
    for (size_t i = 0; i < sizeof queries / sizeof queries[0]; i++)
        printf("find(%s) = %d\n", queries[i], find_word(words, (size_t)(argc - 1), queries[i]));
    free(words);

    printf("checksum %d\n", checksum);
    return 40 + (checksum & 7);
}

/* Data of the "crossref" program: read-only tables, writable counters,
 * initialized pointers to this object's data and static locals. */
#include <stdio.h>
#include "crossref.h"

const struct color palette[] = {
    {"crimson", 220, 20, 60},
    {"teal", 0, 128, 128},
    {"goldenrod", 218, 165, 32},
    {"slate", 112, 128, 144},
    {"orchid", 218, 112, 214},
};
const size_t palette_len = sizeof palette / sizeof palette[0];

const int primes[16] = {2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37, 41, 43, 47, 53};

int counter_a = 10;
int counter_b = 20;
int counters[8] = {1, 1, 2, 3, 5, 8, 13, 21};

/* Initialized pointers to data of this object (relocated at load time). */
int *const counter_slots[3] = {&counter_a, &counters[3], &counter_b};

/* The same literal text appears in main.c. */
const char *const shared_literal_from_table = "shared literal: the quick brown fox";

const char *table_tail_literal(void)
{
    /* A suffix of another literal: compilers may share storage. */
    return "brown fox";
}

int next_serial(void)
{
    static int serial = 1000;
    serial += 7;
    return serial;
}

const char *serial_tag(int serial)
{
    static char buf[32];
    static int calls;
    calls++;
    snprintf(buf, sizeof buf, "S%d#%d", serial, calls);
    return buf;
}

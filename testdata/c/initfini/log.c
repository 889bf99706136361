/* Constructors and destructors with and without priorities, and the event
 * log they write to. */
#include <stdio.h>
#include <stdlib.h>
#include "initfini.h"

static int events;

void note(const char *event)
{
    events++;
    printf("%2d %s\n", events, event);
}

int note_count(void)
{
    return events;
}

int table_ready;
int lookup_table[16];

__attribute__((constructor(101))) static void build_table(void)
{
    for (int i = 0; i < 16; i++)
        lookup_table[i] = i * i + 1;
    table_ready = 1;
    note("log.c constructor, priority 101 (builds table)");
}

__attribute__((constructor)) static void log_ctor(void)
{
    note("log.c constructor, default priority");
}

__attribute__((destructor)) static void log_dtor(void)
{
    note("log.c destructor, default priority");
    fflush(stdout);
}

__attribute__((destructor(101))) static void log_dtor_101(void)
{
    note("log.c destructor, priority 101");
}

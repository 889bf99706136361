/* "initfini": constructor order (priorities, then link order), effects of
 * constructors seen by main, atexit handlers and destructor order.
 * Usage: initfini [INDEX...]  (prints lookup_table[INDEX]). */
#include <stdio.h>
#include <stdlib.h>
#include "initfini.h"

static int ctor_seen_table;

__attribute__((constructor(102))) static void main_ctor_102(void)
{
    ctor_seen_table = table_ready;
    note("main.c constructor, priority 102");
}

__attribute__((constructor)) static void main_ctor(void)
{
    note("main.c constructor, default priority");
}

__attribute__((destructor)) static void main_dtor(void)
{
    note("main.c destructor, default priority");
}

static void at_exit_first(void)
{
    note("atexit handler registered first");
}

static void at_exit_second(void)
{
    note("atexit handler registered second");
}

int main(int argc, char **argv)
{
    note("main starts");
    printf("constructor 102 saw table_ready=%d; %d events before main\n", ctor_seen_table, note_count() - 1);
    atexit(at_exit_first);
    atexit(at_exit_second);
    for (int i = 1; i < argc; i++) {
        int idx = atoi(argv[i]) & 15;
        printf("lookup_table[%d] = %d\n", idx, lookup_table[idx]);
    }
    note("main returns 0");
    return 0;
}

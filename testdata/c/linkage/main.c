/* cflags: -fcommon */
/* "linkage": common symbols, weak definitions and weak undefined
 * references, over-aligned data and large .bss arrays.
 * Usage: linkage N  (N scales the work done on the big arrays). */
#include <stdio.h>
#include <stdlib.h>
#include "linkage.h"

/* Tentative definitions merged with common.c's (a smaller common_sized). */
int common_counter;
char common_sized[64];

int main(int argc, char **argv)
{
    int n = argc > 1 ? atoi(argv[1]) : 3;

    printf("== weak ==\n");
    printf("greeting: %s\n", greeting());
    printf("weak_only: %d\n", weak_only());
    printf("weak_value: %d\n", weak_value);
    printf("%s\n", describe());
    printf("missing_function is %s\n", missing_function ? "defined (wrong)" : "NULL");
    printf("missing_data is %s\n", &missing_data ? "defined (wrong)" : "NULL");
    if (missing_function)
        printf("missing_function(1) = %d\n", missing_function(1));

    printf("== common ==\n");
    common_bump(n + 4);
    printf("common_counter %d common_double %.2f\n", common_counter, common_double);
    common_sized[0] = 'A';
    common_sized[63] = 'Z';
    printf("common_sized[0] '%c' [63] '%c' [64] '%c' [126] '%c' [127] %d checksum %d\n", common_char_at(0),
           common_char_at(63), common_char_at(64), common_char_at(126), common_char_at(127), common_checksum());

    printf("== alignment ==\n");
    report_alignment();

    printf("== big bss ==\n");
    unsigned long zero_check = 0;
    for (unsigned i = 0; i < BIG_A_LEN; i += 4093)
        zero_check += big_a[i];
    for (unsigned i = 0; i < BIG_B_LEN; i += 1021)
        zero_check += (unsigned)big_b[i];
    printf("initially zero: %s\n", zero_check == 0 ? "yes" : "no");
    unsigned long sum = 0;
    for (int round = 0; round < n; round++) {
        for (unsigned i = (unsigned)round; i < BIG_A_LEN; i += 4096)
            big_a[i] = (unsigned char)(i * 31u + (unsigned)round);
        for (unsigned i = (unsigned)round; i < BIG_B_LEN; i += 1024)
            big_b[i] = (int)(i ^ (unsigned)round);
    }
    for (unsigned i = 0; i < BIG_A_LEN; i += 512)
        sum += big_a[i];
    for (unsigned i = 0; i < BIG_B_LEN; i += 256)
        sum += (unsigned)big_b[i];
    printf("big_a[last] %u big_b[last] %d sum %lu\n", big_a[BIG_A_LEN - 1], big_b[BIG_B_LEN - 1], sum);
    return 0;
}

/* Shared declarations of the "linkage" test program: common, weak and
 * over-aligned symbols and large zero-initialized arrays. */
#ifndef LINKAGE_H
#define LINKAGE_H

#include <stdint.h>

#define BIG_A_LEN (24u << 20) /* bytes */
#define BIG_B_LEN (5u << 20)  /* ints */

/* defaults.c: weak definitions */
const char *greeting(void);
int weak_only(void);
extern int weak_value;
const char *describe(void);

/* Weak references with no definition anywhere: their address is NULL. */
extern int missing_function(int) __attribute__((weak));
extern int missing_data __attribute__((weak));

/* common.c: tentative definitions (compiled with -fcommon) */
extern int common_counter;
extern double common_double;
/* common_sized is 128 bytes in common.c and 64 in main.c, so it is not
 * declared here; common_char_at reads it from common.c's point of view. */
char common_char_at(int index);
void common_bump(int times);
int common_checksum(void);

/* aligned.c */
extern _Alignas(64) char cacheline[64];
extern _Alignas(64) int aligned_init[4];
extern char page_bss[4096];
extern int page_data[16];
extern const char page_rodata[32];
extern unsigned char big_a[BIG_A_LEN];
extern int big_b[BIG_B_LEN];
void report_alignment(void);

#endif

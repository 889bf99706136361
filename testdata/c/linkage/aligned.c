/* Over-aligned and large data, in .data, .bss and .rodata. */
#include <stdio.h>
#include <stdint.h>
#include "linkage.h"

_Alignas(64) char cacheline[64];
_Alignas(64) int aligned_init[4] = {1, 2, 3, 4};
__attribute__((aligned(4096))) char page_bss[4096];
__attribute__((aligned(4096))) int page_data[16] = {7, 7, 7};
__attribute__((aligned(256))) const char page_rodata[32] = "read-only, 256-aligned";

unsigned char big_a[BIG_A_LEN];
int big_b[BIG_B_LEN];

static _Alignas(128) unsigned char local_aligned[3];

#define CHECK(obj, align) \
    printf("%-13s aligned to %4d: %s\n", #obj, align, ((uintptr_t)&(obj) % (align)) == 0 ? "yes" : "NO")

void report_alignment(void)
{
    CHECK(cacheline, 64);
    CHECK(aligned_init, 64);
    CHECK(page_bss, 4096);
    CHECK(page_data, 4096);
    CHECK(page_rodata, 256);
    CHECK(local_aligned, 128);
    local_aligned[1] = 9;
    printf("aligned_init sum %d, page_data[2] %d, page_rodata \"%s\", local %d\n",
           aligned_init[0] + aligned_init[1] + aligned_init[2] + aligned_init[3], page_data[2],
           page_rodata, local_aligned[1]);
}

/* cflags: -fcommon */
/* Tentative definitions that become COMMON symbols with -fcommon. main.c
 * declares some of them tentatively too, with a smaller size for
 * common_sized: the linker must allocate the largest. */
#include <string.h>
#include "linkage.h"

int common_counter;
double common_double;
char common_sized[128];

void common_bump(int times)
{
    for (int i = 0; i < times; i++)
        common_counter += i;
    common_double += 0.25 * times;
    memset(common_sized, 'x', sizeof common_sized);
    common_sized[127] = 0;
}

char common_char_at(int index)
{
    return common_sized[index & 127];
}

int common_checksum(void)
{
    int sum = 0;
    for (unsigned i = 0; i < sizeof common_sized; i++)
        sum += (unsigned char)common_sized[i] * (int)(i + 1);
    return sum;
}

/* Weak definitions. greeting and weak_value are overridden by strong
 * definitions in strong.c (which comes later on the link line);
 * weak_only is not overridden. */
#include <stdio.h>
#include "linkage.h"

__attribute__((weak)) const char *greeting(void)
{
    return "weak greeting (wrong: should be overridden)";
}

__attribute__((weak)) int weak_only(void)
{
    return 11;
}

__attribute__((weak)) int weak_value = 5;

/* Calls the weak symbol from its own object: the strong one must win. */
const char *describe(void)
{
    static char buf[128];
    snprintf(buf, sizeof buf, "describe: %s / weak_value=%d / weak_only=%d", greeting(), weak_value,
             weak_only());
    return buf;
}

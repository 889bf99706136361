/* Strong definitions overriding the weak ones in defaults.c. */
#include "linkage.h"

const char *greeting(void)
{
    return "strong greeting";
}

int weak_value = 50;

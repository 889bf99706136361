#include "ck_common.h"

/* Weak definitions: hook_strong is overridden by ck_funcs.c, hook_default is not. */
__attribute__((weak)) int hook_strong(void) { return 1; }
__attribute__((weak)) int hook_default(void) { return 5; }

/* Defines what ck_main.c imports (through __imp_ pointers in COFF): deliberately without
   ck_common.h, whose declarations carry dllimport. */
int imported_data = 1234;

int imported_fn(int x) { return x * 3 + imported_data; }

/* Host C functions called from linked code. */
#if defined(_WIN32)
typedef unsigned long long size_t;
#else
typedef unsigned long size_t;
int printf(const char *, ...);
#endif
int puts(const char *);
size_t strlen(const char *);
void *memset(void *, int, size_t);

static char line[40];

int run_hello(void) {
    memset(line, '=', 20);
    line[20] = 0;
    puts(line);
    puts("hello from linked code");
#if !defined(_WIN32) && !defined(NO_PRINTF)
    printf("%s has %d characters, %x in hex, pi is about %.3f\n", line, (int)strlen(line), 48879, 3.14159);
#endif
    return (int)strlen(line) + 1;
}

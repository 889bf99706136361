/* Shared declarations of the checksum program. */
#if defined(_WIN32)
#define IMPORT __declspec(dllimport)
#define PICK_ONE __declspec(selectany)
#else
#define IMPORT
#define PICK_ONE __attribute__((weak))
#endif

typedef int (*op_fn)(int, int);

struct entry {
    const char *name;
    int weight;
    op_fn op;
};

extern const unsigned char mix_table[64];
extern struct entry entries[];
extern const int entry_count;
extern int counter;
extern long long wide[4];
/* shared_pick is declared only where it is used: gcc ignores selectany on a definition
   that follows an extern declaration. */

int op_add(int a, int b);
int op_sub(int a, int b);
int op_mulmod(int a, int b);
int op_xrot(int a, int b);
int classify(int x);
int fib(int n);
int apply_all(int seed);
unsigned hash_name(const char *s);
int hook_strong(void);
int hook_default(void);
IMPORT int imported_fn(int x);
IMPORT extern int imported_data;

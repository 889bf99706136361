/* Unwinding through linked code with the host's unwinder (libgcc's _Unwind_Backtrace): the
   frames counted from three calls deep minus those counted from the entry must be 3, which
   holds only if the unwind information of every function between is registered. */
typedef int (*trace_fn)(void *ctx, void *arg);
int _Unwind_Backtrace(trace_fn fn, void *arg);

static int count(void *ctx, void *arg) {
    (void)ctx;
    ++*(int *)arg;
    return 0;
}

static int frames(void) {
    int n = 0;
    _Unwind_Backtrace(count, &n);
    return n;
}

__attribute__((noinline)) int depth3(volatile int *k) { return frames() + *k; }
__attribute__((noinline)) int depth2(volatile int *k) { return depth3(k) + *k; }
__attribute__((noinline)) int depth1(volatile int *k) { return depth2(k) + *k; }

int run_unwind(void) {
    volatile int zero = 0;
    int here = frames();
    int deep = depth1(&zero);
    return 10 + deep - here;
}

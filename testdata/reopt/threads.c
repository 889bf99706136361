/* Calls kernel_sum from several POSIX threads at once (the re-optimizer's per-thread counters).
 * Each thread makes `calls_each` calls over {3, 3, 3, 3} (36 each) and exits. */
#include <pthread.h>

long kernel_sum(const int *a, int n);

struct job {
    int calls;
    long result;
};

static void *worker(void *p) {
    struct job *j = p;
    int data[4] = {3, 3, 3, 3};
    long s = 0;
    for (int i = 0; i < j->calls; i++)
        s += kernel_sum(data, 4);
    j->result = s;
    return 0;
}

/* Runs `nthreads` (at most 64) threads at once; returns the sum of their results, or -1. */
long run_threads(int nthreads, int calls_each) {
    pthread_t t[64];
    struct job j[64];
    if (nthreads < 1 || nthreads > 64)
        return -1;
    for (int i = 0; i < nthreads; i++) {
        j[i].calls = calls_each;
        j[i].result = 0;
        if (pthread_create(&t[i], 0, worker, &j[i]) != 0)
            return -1;
    }
    long total = 0;
    for (int i = 0; i < nthreads; i++) {
        pthread_join(t[i], 0);
        total += j[i].result;
    }
    return total;
}

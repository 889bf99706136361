/* Concurrent first calls: eight threads wait at a barrier, then call the same lazy function
 * (defined in worker.c) at once. */
#include <pthread.h>
#include <stdio.h>

long worker(long id, double scale, long a, long b, long c, long d, long e, long f, long g);

static pthread_barrier_t barrier;
static long results[8];

static void *run(void *arg) {
    long id = (long)arg;
    pthread_barrier_wait(&barrier);
    results[id] = worker(id, 0.5, 1, 2, 3, 4, 5, 6, 7);
    return NULL;
}

int main(void) {
    pthread_t t[8];
    pthread_barrier_init(&barrier, NULL, 8);
    for (long i = 0; i < 8; i++)
        pthread_create(&t[i], NULL, run, (void *)i);
    for (int i = 0; i < 8; i++)
        pthread_join(t[i], NULL);
    for (int i = 0; i < 8; i++)
        printf("thread %d: %ld\n", i, results[i]);
    return 0;
}

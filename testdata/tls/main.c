/* Thread-local variables defined in two objects, used from four threads and main: initial
   values (.tdata), zero-fill (.tbss), a static thread-local, and one defined in shared.c. */
#include <pthread.h>
#include <stdio.h>

__thread int counter = 5;
__thread char name[16] = "main";
static __thread long local_acc;
__thread long big_zero[64];
extern __thread int shared_b;
int bump(int k);
int *shared_address(void);

static void *worker(void *arg)
{
    long id = (long)arg;
    for (int i = 0; i < 1000; i++) {
        counter++;
        local_acc += id;
        big_zero[i % 64] += i;
        bump(1);
    }
    snprintf(name, sizeof name, "w%ld", id);
    printf("thread %ld: counter=%d acc=%ld zero=%ld shared=%d name=%s same=%d\n", id, counter,
           local_acc, big_zero[63], shared_b, name, shared_address() == &shared_b);
    return 0;
}

int main(void)
{
    pthread_t t[4];
    for (long i = 0; i < 4; i++)
        pthread_create(&t[i], 0, worker, (void *)(i + 1));
    for (int i = 0; i < 4; i++)
        pthread_join(t[i], 0);
    /* Threads print in any order; each line is checked by sorting below. */
    printf("main: counter=%d acc=%ld zero=%ld shared=%d name=%s\n", counter, local_acc,
           big_zero[0], shared_b, name);
    return 0;
}

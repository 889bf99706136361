/* "tls": thread-local storage across objects and threads. Each worker
 * thread starts from the initial values, changes its own copies, and
 * reports; main prints the reports after joining, in a fixed order.
 * Usage: tls [WORKERS]  (default 3, at most 8). */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "tls.h"

struct report {
    int id;
    char text[160];
};

static void *worker(void *arg)
{
    struct report *r = arg;
    int initial = tls_counter;
    snprintf(tls_name, sizeof tls_name, "worker-%d", r->id);
    for (int i = 0; i <= r->id; i++)
        tls_counter += 10;
    bump_local(r->id * 3 + 1);
    tls_aligned[0] = (unsigned char)r->id;
    snprintf(r->text, sizeof r->text, "initial %d, %s, desc %d, aligned %s, own copy %s", initial,
             describe_thread(), desc_sum(), (uintptr_t)tls_aligned % 64 == 0 ? "yes" : "NO",
             tls_aligned[0] == r->id ? "yes" : "NO");
    return NULL;
}

int main(int argc, char **argv)
{
    int workers = argc > 1 ? atoi(argv[1]) : 3;
    if (workers < 1 || workers > 8)
        workers = 3;
    strcpy(tls_name, "main");
    tls_counter = 1;
    bump_local(7);
    printf("before: %s, desc %d\n", describe_thread(), desc_sum());

    pthread_t threads[8];
    struct report reports[8];
    for (int i = 0; i < workers; i++) {
        reports[i].id = i + 1;
        if (pthread_create(&threads[i], NULL, worker, &reports[i]) != 0) {
            perror("pthread_create");
            return 1;
        }
    }
    for (int i = 0; i < workers; i++)
        pthread_join(threads[i], NULL);
    for (int i = 0; i < workers; i++)
        printf("thread %d: %s\n", reports[i].id, reports[i].text);
    printf("after: %s, aligned %s\n", describe_thread(), (uintptr_t)tls_aligned % 64 == 0 ? "yes" : "NO");
    return 0;
}

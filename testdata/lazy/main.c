/* Lazy linking: main calls into used.c and args.c; unused.c is never called. */
#include <stdio.h>
#include <stdarg.h>

int used_twice(int x);
int never_called(int x);
long many_args(long a, long b, long c, long d, long e, long f, long g, long h,
               double x0, double x1, double x2, double x3, double x4, double x5,
               double x6, double x7);
double stack_args(int a, int b, int c, int d, int e, int f, double x0, double x1,
                  double x2, double x3, double x4, double x5, double x6, double x7,
                  double x8, int g, long h, float y);
int sum_varargs(int n, ...);
int args_calls(void);
double sum_doubles(int n, ...);
extern int shared_counter;

int main(int argc, char **argv) {
    (void)argv;
    printf("used_twice: %d %d\n", used_twice(20), used_twice(1));
    printf("many_args: %ld\n", many_args(1, 2, 3, 4, 5, 6, 7, 8, 0.5, 1.5, 2.5, 3.5, 4.5,
                                         5.5, 6.5, 7.5));
    printf("stack_args: %.3f\n", stack_args(1, 2, 3, 4, 5, 6, 0.25, 0.5, 0.75, 1.0, 1.25,
                                            1.5, 1.75, 2.0, 2.25, 7, 8L, 9.5f));
    printf("varargs: %d\n", sum_varargs(5, 1, 2, 3, 4, 5));
    printf("double varargs: %.2f\n", sum_doubles(10, 1.5, 2.5, 3.5, 4.5, 5.5, 6.5, 7.5, 8.5,
                                                 9.5, 10.5));
    printf("shared_counter: %d\n", shared_counter);
    printf("args_calls: %d\n", args_calls());
    if (argc > 5)
        printf("never: %d\n", never_called(argc));
    return 0;
}

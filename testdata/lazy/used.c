int shared_counter;   /* data referenced from main.c: this object is linked eagerly? no: main.c refs it */
int used_twice(int x) { shared_counter += x; return x * 2; }

int shared_counter;   /* data that main.c references: this object is linked eagerly */
int used_twice(int x) { shared_counter += x; return x * 2; }

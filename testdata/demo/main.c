/* The demo: counts the words of a text and prints the most frequent ones. Linked by jitlink
   from two objects, calling qsort, strndup and printf in the host's C library. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include "words.h"

static const char *text =
    "the linker reads objects and the linker writes memory; the loader maps memory "
    "and the program runs. a jit linker links objects into the running program, "
    "so the program and the linker share one process and one memory.";

int main(int argc, char **argv) {
    int top = argc > 1 ? atoi(argv[1]) : 5;
    const char *p = text;
    while (*p) {
        while (*p && !isalpha((unsigned char)*p)) p++;
        const char *start = p;
        while (*p && isalpha((unsigned char)*p)) p++;
        if (p > start) count_word(start, (int)(p - start));
    }
    sort_words();
    printf("%d distinct words; top %d:\n", nwords, top);
    for (int i = 0; i < top && i < nwords; i++)
        printf("%8d  %s\n", words[i].count, words[i].text);
    return 0;
}

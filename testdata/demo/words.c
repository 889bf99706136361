#include <stdlib.h>
#include <string.h>
#include "words.h"

struct word words[512];
int nwords;

void count_word(const char *w, int len) {
    for (int i = 0; i < nwords; i++)
        if ((int)strlen(words[i].text) == len && memcmp(words[i].text, w, len) == 0) {
            words[i].count++;
            return;
        }
    if (nwords < 512) {
        words[nwords].text = strndup(w, len);
        words[nwords++].count = 1;
    }
}

static int by_count(const void *a, const void *b) {
    const struct word *x = a, *y = b;
    if (x->count != y->count) return y->count - x->count;
    return strcmp(x->text, y->text);
}

void sort_words(void) { qsort(words, nwords, sizeof words[0], by_count); }

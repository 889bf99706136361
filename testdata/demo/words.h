#ifndef WORDS_H
#define WORDS_H
struct word { const char *text; int count; };
extern struct word words[];
extern int nwords;
void count_word(const char *w, int len);
void sort_words(void);
#endif

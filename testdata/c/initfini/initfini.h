/* Shared declarations of the "initfini" test program. */
#ifndef INITFINI_H
#define INITFINI_H

/* An event log filled by constructors, main, atexit handlers and
 * destructors, printed as it grows. */
void note(const char *event);
int note_count(void);
extern int table_ready;
extern int lookup_table[16];

#endif

/* The ELF build: calls the entry named by -DENTRY from main. */
int ENTRY(void);
int main(void) { return ENTRY(); }

/* The other half: a thread-local with an initial value, changed through a function. */
__thread int shared_b = 100;

int bump(int k)
{
    shared_b += k;
    return shared_b;
}

int *shared_address(void)
{
    return &shared_b;
}

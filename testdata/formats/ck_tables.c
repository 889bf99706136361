#include "ck_common.h"

const unsigned char mix_table[64] = {
    17, 201, 3, 88, 240, 12, 99, 5, 61, 144, 230, 7, 18, 77, 190, 33,
    250, 41, 2, 119, 8, 163, 54, 222, 91, 16, 180, 39, 71, 127, 4, 208,
    66, 11, 155, 29, 243, 87, 135, 48, 1, 212, 95, 173, 26, 59, 138, 9,
    110, 37, 199, 83, 14, 251, 45, 166, 72, 28, 150, 6, 233, 57, 102, 19,
};

struct entry entries[] = {
    {"alpha", 3, op_add},
    {"beta", 5, op_sub},
    {"gamma", 7, op_mulmod},
    {"delta", 11, op_xrot},
    {"epsilon", 13, op_add},
};
const int entry_count = sizeof entries / sizeof entries[0];

int counter = 3;
long long wide[4] = {1LL << 40, -5, 123456789012LL, 77};
PICK_ONE int shared_pick = 42;

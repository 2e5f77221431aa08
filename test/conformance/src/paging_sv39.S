// Sv39 paging (see paging.h for the layout and what is covered).
#define LEVELS 3
#include "test.h"
#include "paging.h"

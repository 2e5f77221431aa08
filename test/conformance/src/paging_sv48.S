// Sv48 paging (see paging.h for the layout and what is covered).
#define LEVELS 4
#include "test.h"
#include "paging.h"

#include "realtrain/data/data_error.h"

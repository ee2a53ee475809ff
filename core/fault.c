/* Crash and failure points for fault-injection tests (ks_fault.h). */
#include "ks_fault.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>

void ks_fault_point(const char *name)
{
    const char *at = getenv("KOSEARCH_FAULT_KILL_AT");
    if (at && strcmp(at, name) == 0)
        raise(SIGKILL);
}

int ks_fault_fail(const char *name)
{
    const char *at = getenv("KOSEARCH_FAULT_FAIL_AT");
    return at && strcmp(at, name) == 0;
}

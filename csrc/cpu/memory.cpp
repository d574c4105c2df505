// keep_freed_memory (mtsnn/runtime.h): glibc's malloc tuned to keep freed memory.
#include "mtsnn/runtime.h"

#if defined(__GLIBC__)
#include <malloc.h>

#include <climits>
#endif

namespace mtsnn {

bool keep_freed_memory() {
#if defined(__GLIBC__)
  // Blocks of any size come from the heap (no fresh mapping to fault in), and freed heap memory
  // is never returned to the system (no trimming that would have to be faulted in again).
  return mallopt(M_MMAP_THRESHOLD, INT_MAX) == 1 && mallopt(M_TRIM_THRESHOLD, INT_MAX) == 1;
#else
  return false;
#endif
}

}  // namespace mtsnn

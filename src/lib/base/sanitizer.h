/* base/sanitizer.h: FK_ASAN, defined when the address sanitizer is built in (GCC and clang say
   so differently). Code that shares its memory with a process it starts (CLONE_VM) takes
   another way then: the sanitizer's allocator cannot be shared with a process it does not know
   of. */
#ifndef FK_BASE_SANITIZER_H
#define FK_BASE_SANITIZER_H

#if defined(__SANITIZE_ADDRESS__)
#define FK_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define FK_ASAN 1
#endif
#endif

#endif

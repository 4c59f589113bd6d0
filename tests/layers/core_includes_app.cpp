// Compiled as a core source (DISTILLERY_CORE_ONLY) by the test core_cannot_include_the_app: it
// must fail with the application layer's #error, so a backward include never builds.
#include "distillery/app/config.h"

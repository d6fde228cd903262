// Under AddressSanitizer (GOATLM_ASAN) goatlm_simt uses Boost.Context's ucontext fibers, which
// carry ASan stack-switch annotations (BOOST_USE_UCONTEXT + BOOST_USE_ASAN, set by CMake). The
// distribution's libboost_context is built for fcontext, so the ucontext implementation lacks its
// one out-of-line piece, the per-thread current-fiber record; this file supplies it with the same
// definition as Boost's src/fiber.cpp (a Schwarz counter per thread). Empty otherwise.
#if defined(BOOST_USE_UCONTEXT)
#include <boost/context/fiber.hpp>
#include <cstddef>

namespace boost::context::detail {
namespace {
thread_local fiber_activation_record* goat_fib_current_rec = nullptr;
thread_local std::size_t goat_fib_counter = 0;
}  // namespace
fiber_activation_record_initializer::fiber_activation_record_initializer() noexcept {
  if (0 == goat_fib_counter++) goat_fib_current_rec = new fiber_activation_record();
}
fiber_activation_record_initializer::~fiber_activation_record_initializer() {
  if (0 == --goat_fib_counter) delete goat_fib_current_rec;
}
fiber_activation_record*& fiber_activation_record::current() noexcept {
  thread_local static fiber_activation_record_initializer initializer;
  return goat_fib_current_rec;
}
}  // namespace boost::context::detail
#endif

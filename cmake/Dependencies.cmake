# Third-party dependencies, all from Debian 12 packages (scripts/setup.sh).
find_package(Threads REQUIRED)
find_package(Boost 1.74 CONFIG REQUIRED)   # Boost::headers (Beast, Asio)
find_package(RapidJSON CONFIG REQUIRED)    # RAPIDJSON_INCLUDE_DIRS, no target
find_package(spdlog CONFIG REQUIRED)       # spdlog::spdlog (+ fmt::fmt)
find_package(OpenSSL REQUIRED)             # OpenSSL::SSL, OpenSSL::Crypto

# RapidJSON ships no target: wrap its include dir in one. std::string
# support is on everywhere so the API can take strings.
add_library(scopehub_rapidjson INTERFACE)
target_include_directories(scopehub_rapidjson SYSTEM INTERFACE
                           ${RAPIDJSON_INCLUDE_DIRS})
target_compile_definitions(scopehub_rapidjson INTERFACE
                           RAPIDJSON_HAS_STDSTRING=1)

# Debian ships CAF 0.17 without a CMake package: declare imported targets.
find_path(CAF_INCLUDE_DIR caf/all.hpp REQUIRED)
find_library(CAF_CORE_LIBRARY caf_core REQUIRED)
find_library(CAF_IO_LIBRARY caf_io REQUIRED)
find_library(CAF_OPENSSL_LIBRARY caf_openssl)
if(NOT TARGET CAF::core)
  add_library(CAF::core SHARED IMPORTED)
  set_target_properties(CAF::core PROPERTIES
    IMPORTED_LOCATION "${CAF_CORE_LIBRARY}"
    INTERFACE_INCLUDE_DIRECTORIES "${CAF_INCLUDE_DIR}"
    INTERFACE_LINK_LIBRARIES Threads::Threads)
  add_library(CAF::io SHARED IMPORTED)
  set_target_properties(CAF::io PROPERTIES
    IMPORTED_LOCATION "${CAF_IO_LIBRARY}"
    INTERFACE_LINK_LIBRARIES CAF::core)
  if(CAF_OPENSSL_LIBRARY)
    add_library(CAF::openssl SHARED IMPORTED)
    set_target_properties(CAF::openssl PROPERTIES
      IMPORTED_LOCATION "${CAF_OPENSSL_LIBRARY}"
      INTERFACE_LINK_LIBRARIES "CAF::io;OpenSSL::SSL")
  endif()
endif()

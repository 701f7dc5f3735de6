# scopehub_embed(<target> <namespace> <files...>): compiles files into the
# binary as std::string_view constants, looked up by file name.
# Used for the JSON schemas (protocol/) and the debug page (web/).
function(scopehub_embed target ns)
  set(out "${CMAKE_CURRENT_BINARY_DIR}/${target}_embedded.cpp")
  set(abs_files "")
  foreach(f IN LISTS ARGN)
    get_filename_component(af "${f}" ABSOLUTE)
    list(APPEND abs_files "${af}")
  endforeach()
  add_custom_command(
    OUTPUT "${out}"
    COMMAND ${CMAKE_COMMAND} -DOUT=${out} -DNS=${ns} "-DFILES=${abs_files}"
            -P "${PROJECT_SOURCE_DIR}/cmake/EmbedGen.cmake"
    DEPENDS ${abs_files} "${PROJECT_SOURCE_DIR}/cmake/EmbedGen.cmake"
    COMMENT "Embedding ${ns} resources" VERBATIM)
  target_sources(${target} PRIVATE "${out}")
endfunction()

# scopehub_folder_library(<name> LIBS <deps...>): one library per top-level
# folder, built from every .cpp in it (folders own their file lists, so
# adding a file needs no CMake edit). Headers are included as
# "<folder>/<file>.hpp" from the source root.
function(scopehub_folder_library name)
  cmake_parse_arguments(arg "" "" "LIBS" ${ARGN})
  file(GLOB srcs CONFIGURE_DEPENDS "${CMAKE_CURRENT_SOURCE_DIR}/*.cpp")
  if(NOT srcs) # a folder whose issue has not landed yet
    add_library(${name} INTERFACE)
    target_include_directories(${name} INTERFACE ${PROJECT_SOURCE_DIR})
    target_link_libraries(${name} INTERFACE ${arg_LIBS})
    return()
  endif()
  add_library(${name} STATIC ${srcs})
  target_include_directories(${name} PUBLIC ${PROJECT_SOURCE_DIR})
  target_link_libraries(${name} PUBLIC ${arg_LIBS} PRIVATE scopehub_warnings)
endfunction()

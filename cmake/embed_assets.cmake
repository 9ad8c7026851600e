# Writes OUTPUT, a C++ header holding each file of INPUTS (a comma list of paths) as a
# string constant named after the file (compare.css -> dlm::assets::compare_css), so
# that the library carries its page assets and needs no file at run time. Run at build
# time (see CMakeLists.txt): cmake -DOUTPUT=header.h -DINPUTS=a.css,b.js -P embed_assets.cmake
string(REPLACE "," ";" inputs "${INPUTS}")
set(header "// Generated from src/view/assets/ by cmake/embed_assets.cmake: edit the assets, not this file.\n")
string(APPEND header "#pragma once\n\nnamespace dlm::assets {\n")
foreach(input IN LISTS inputs)
  get_filename_component(file_name "${input}" NAME)
  string(MAKE_C_IDENTIFIER "${file_name}" name)
  file(READ "${input}" content)
  # A raw string literal keeps the bytes as they are; its delimiter must not occur in them.
  string(FIND "${content}" ")dlm_asset\"" clash)
  if(NOT clash EQUAL -1)
    message(FATAL_ERROR "${input} contains the raw-string delimiter )dlm_asset\"")
  endif()
  string(APPEND header "inline constexpr char ${name}[] = R\"dlm_asset(${content})dlm_asset\";\n")
endforeach()
string(APPEND header "}  // namespace dlm::assets\n")
# Rewritten only when it changes, so that an unchanged asset rebuilds nothing.
file(WRITE "${OUTPUT}.tmp" "${header}")
file(COPY_FILE "${OUTPUT}.tmp" "${OUTPUT}" ONLY_IF_DIFFERENT)
file(REMOVE "${OUTPUT}.tmp")

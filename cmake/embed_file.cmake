# Writes OUT, a C++ source defining venice_batch::embedded_default_config(), from the text of IN.
file(READ "${IN}" content)
set(delim "VBCFG")
file(WRITE "${OUT}" "// Generated from ${IN}; do not edit.\n#include <string_view>\nnamespace venice_batch {\nstd::string_view embedded_default_config() {\n  return R\"${delim}(${content})${delim}\";\n}\n}  // namespace venice_batch\n")

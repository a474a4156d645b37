# Script mode (cmake -P): writes outpost(1) from packaging/outpost.1.in and what `outpost --help`
# prints, so the command list has one source, the usage text in app/src/commands.cpp.
#   -DOUTPOST=<binary> -DTEMPLATE=<outpost.1.in> -DVERSION=<x.y.z> -DOUTPUT=<outpost.1>
execute_process(COMMAND ${OUTPOST} --help OUTPUT_VARIABLE help RESULT_VARIABLE rc)
if(NOT rc EQUAL 0 OR help STREQUAL "")
  message(FATAL_ERROR "${OUTPOST} --help failed (${rc}); cannot write the man page")
endif()
string(REGEX REPLACE "\n+$" "" help "${help}")
# roff: a backslash is \e, a minus sign is \-, and a line must not start with a control character.
string(REPLACE "\\" "\\e" help "${help}")
string(REPLACE "-" "\\-" help "${help}")
string(REGEX REPLACE "(^|\n)([.'])" "\\1\\\\&\\2" help "${help}")
set(OUTPOST_USAGE "${help}")
set(OUTPOST_VERSION "${VERSION}")
configure_file(${TEMPLATE} ${OUTPUT} @ONLY)

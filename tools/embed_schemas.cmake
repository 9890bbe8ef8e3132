# Writes a C file with each schemas/<name>.avsc as a NUL-terminated string
# ltv_schema_<name>. Run by CMakeLists.txt; inputs: OUT, DIR, NAMES.
set(body "/* Generated from the .avsc files in schemas/ by tools/embed_schemas.cmake. Do not edit. */\n")
string(REPLACE "," ";" NAMES "${NAMES}")
foreach(name ${NAMES})
  file(READ "${DIR}/${name}.avsc" hex HEX)
  string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," arr "${hex}")
  string(APPEND body "const char ltv_schema_${name}[] = {${arr}0x00};\n")
endforeach()
file(WRITE "${OUT}" "${body}")

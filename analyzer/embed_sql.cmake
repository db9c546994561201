# Turns SQL files into C string constants (cmake -P embed_sql.cmake):
# -DOUT=header -DINPUTS="name1=file1;name2=file2". One string per file,
# so the binary carries schema.sql rather than a copy of it.
set(text "/* Generated from analyzer/schema.sql and indexes.sql by embed_sql.cmake: do not edit. */\n")
foreach(pair IN LISTS INPUTS)
  string(REPLACE "=" ";" kv "${pair}")
  list(GET kv 0 name)
  list(GET kv 1 file)
  file(READ "${file}" sql)
  string(REPLACE "\\" "\\\\" sql "${sql}")
  string(REPLACE "\"" "\\\"" sql "${sql}")
  string(REPLACE "\n" "\\n\"\n\t\"" sql "${sql}")
  string(APPEND text "static const char ${name}[] =\n\t\"${sql}\";\n")
endforeach()
file(WRITE "${OUT}.new" "${text}")
execute_process(COMMAND ${CMAKE_COMMAND} -E copy_if_different "${OUT}.new" "${OUT}")
file(REMOVE "${OUT}.new")

# `outpost check` against hostile files (endless, huge, null, duplicate keys, numbers beyond a
# double, deep nesting): exit 3, the file and JSON path named, peak RSS measured (label integration).
outpost_test(hostile_files_tests integration SOURCES integration/hostile_files_test.cpp LIBS outpost_test_support)

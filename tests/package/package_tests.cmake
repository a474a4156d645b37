# The Debian package built by cpack from this build tree (label `package`), and the container image
# built from docker/ on a Debian 12 base made by debootstrap inside the test (label `docker`).
# Exit code 77 is a skip, with the reason on the output.
add_test(NAME package.deb
  COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/deb_test.sh ${PROJECT_BINARY_DIR} ${PROJECT_SOURCE_DIR} ${PROJECT_VERSION})
set_tests_properties(package.deb PROPERTIES LABELS package TIMEOUT 300 SKIP_RETURN_CODE 77)
add_test(NAME docker.image
  COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/docker_test.sh ${PROJECT_SOURCE_DIR} ${PROJECT_VERSION} ${PROJECT_BINARY_DIR})
set_tests_properties(docker.image PROPERTIES LABELS docker TIMEOUT 1500 SKIP_RETURN_CODE 77)

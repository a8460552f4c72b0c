# pg.cmake: the PostgreSQL engine's extra tests and its benchmark, included
# by tests/serve/CMakeLists.txt (which has serve_objs and WITH_PG). The
# engine's store-level test, test_store_pg, is picked up there by name.
#
#   pg_two_nodes: two `anpr serve` processes on one PostgreSQL; a read
#                 posted to one raises an alert on the other's stream.
#   serve_pg:     bench/serve_pg.c, ingest and search speed straight into
#                 the store; run by hand (see the comment atop the file).
add_executable(pg_two_nodes ${CMAKE_CURRENT_LIST_DIR}/pg_two_nodes.c)
target_link_libraries(pg_two_nodes PRIVATE serve_objs)
add_dependencies(pg_two_nodes anpr)
add_test(NAME pg_two_nodes
         COMMAND ${CMAKE_CURRENT_LIST_DIR}/with_postgres.sh
                 $<TARGET_FILE:pg_two_nodes> $<TARGET_FILE:anpr>
         WORKING_DIRECTORY ${CMAKE_SOURCE_DIR})
set_tests_properties(pg_two_nodes PROPERTIES TIMEOUT 120)

add_executable(serve_pg ${CMAKE_SOURCE_DIR}/bench/serve_pg.c)
target_link_libraries(serve_pg PRIVATE serve_objs)

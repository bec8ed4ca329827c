# Installation layout and the .deb (`cmake --build build --target concierge_cli
# package`).
# The package runs offline: it carries ONNX Runtime (found by the binary's
# RPATH), the model pack verified by scripts/fetch-models.sh, and the built web
# UI. Config in /etc/concierge (a conffile), data in /var/lib/concierge, systemd
# units for `run`, `serve` and `edge@<camera>`.

set(CONCIERGE_MODELS_DIR_DEFAULT ${CONCIERGE_ONNXRUNTIME_DIR}/../../models/concierge-models-2)
cmake_path(NORMAL_PATH CONCIERGE_MODELS_DIR_DEFAULT)
set(CONCIERGE_PACKAGE_MODELS_DIR ${CONCIERGE_MODELS_DIR_DEFAULT} CACHE PATH
    "Model pack shipped in the package (fetched and verified by scripts/fetch-models.sh)")
set(CONCIERGE_PACKAGE_WEB_DIR ${CMAKE_SOURCE_DIR}/web/dist CACHE PATH
    "Built web UI shipped in the package (scripts/setup.sh builds it)")

set_target_properties(concierge_cli PROPERTIES INSTALL_RPATH "$ORIGIN/../lib/concierge")
install(TARGETS concierge_cli RUNTIME DESTINATION bin)
install(TARGETS concierge_media LIBRARY DESTINATION lib/concierge)
# The real file under the soname the binary asks for.
get_filename_component(ONNXRUNTIME_REAL ${ONNXRUNTIME_LIBRARY} REALPATH)
install(FILES ${ONNXRUNTIME_REAL} DESTINATION lib/concierge RENAME libonnxruntime.so.1)
install(DIRECTORY ${CONCIERGE_PACKAGE_MODELS_DIR}/ DESTINATION share/concierge/models)
if(EXISTS ${CONCIERGE_PACKAGE_WEB_DIR}/index.html)
  install(DIRECTORY ${CONCIERGE_PACKAGE_WEB_DIR}/ DESTINATION share/concierge/web)
else()
  message(WARNING "${CONCIERGE_PACKAGE_WEB_DIR} has no built web UI: the package will serve "
                  "only the API (run scripts/setup.sh, or npm run build in web/)")
endif()
install(FILES ${CMAKE_SOURCE_DIR}/packaging/systemd/concierge-run.service
              ${CMAKE_SOURCE_DIR}/packaging/systemd/concierge-serve.service
              ${CMAKE_SOURCE_DIR}/packaging/systemd/concierge-edge@.service
        DESTINATION lib/systemd/system)
install(FILES ${CMAKE_SOURCE_DIR}/packaging/config.json DESTINATION /etc/concierge)
install(FILES ${CMAKE_SOURCE_DIR}/README.md DESTINATION share/doc/concierge)

# The package needs only the binary: build it first (`cmake --build build`), so
# `package` does not build every test and benchmark on the way.
set(CMAKE_SKIP_INSTALL_ALL_DEPENDENCY ON)
set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME concierge)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_CONTACT "Concierge maintainers <concierge@localhost>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY
    "Self-hosted office concierge and intruder detector (face recognition)")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION misc)
# Library dependencies from the binary; ONNX Runtime is shipped, not depended on.
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS_PRIVATE_DIRS ${CONCIERGE_ONNXRUNTIME_DIR}/lib)
set(CPACK_DEBIAN_PACKAGE_DEPENDS "adduser, systemd")
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
    ${CMAKE_SOURCE_DIR}/packaging/debian/conffiles
    ${CMAKE_SOURCE_DIR}/packaging/debian/postinst
    ${CMAKE_SOURCE_DIR}/packaging/debian/prerm
    ${CMAKE_SOURCE_DIR}/packaging/debian/postrm)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
include(CPack)

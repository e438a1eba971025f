# Builds BPF programs into libbpf skeletons, the way libbpf-bootstrap does:
#   bpf/<name>.bpf.c --clang -target bpf--> <name>.bpf.o --bpftool gen skeleton--> <name>.skel.h
# and exposes the header through an INTERFACE target `<name>_skel`. Kernel types come from
# the checked-in bpf/vmlinux.h (CO-RE), never from the build host's kernel, so the same
# .bpf.o loads on every kernel with BTF.
find_program(GOSCRY_BPF_CLANG NAMES clang clang-14 REQUIRED)
find_program(GOSCRY_BPFTOOL NAMES bpftool PATHS /usr/sbin /sbin REQUIRED)
pkg_check_modules(LIBBPF REQUIRED IMPORTED_TARGET libbpf>=1.1)

# The objects read Go's registers by the target's ABI (bpf/go_abi.h), so they are built for
# the architecture goscry is built for (cmake/aarch64-linux-gnu.cmake cross-builds arm64).
# Kernel types still come from the one vmlinux.h, x86_64's: CO-RE relocates them by name on
# any kernel, and arm64's registers are the fixed UAPI user_pt_regs (go_abi.h).
if(CMAKE_SYSTEM_PROCESSOR MATCHES "^(aarch64|arm64)$")
  set(GOSCRY_BPF_ARCH arm64)
else()
  set(GOSCRY_BPF_ARCH x86)
endif()

function(goscry_bpf_skeleton name)
  set(src ${PROJECT_SOURCE_DIR}/bpf/${name}.bpf.c)
  set(out_dir ${CMAKE_BINARY_DIR}/bpf)
  set(obj ${out_dir}/${name}.bpf.o)
  set(skel ${out_dir}/${name}.skel.h)
  file(GLOB headers CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/bpf/*.h)
  add_custom_command(
    OUTPUT ${obj}
    COMMAND ${CMAKE_COMMAND} -E make_directory ${out_dir}
    COMMAND ${GOSCRY_BPF_CLANG} -target bpf -g -O2 -Wall -Werror
            -D__TARGET_ARCH_${GOSCRY_BPF_ARCH}
            -I${PROJECT_SOURCE_DIR} -I${PROJECT_SOURCE_DIR}/bpf ${LIBBPF_CFLAGS}
            -c ${src} -o ${obj}
    DEPENDS ${src} ${headers}
    COMMENT "BPF ${name}.bpf.c"
    VERBATIM)
  add_custom_command(
    OUTPUT ${skel}
    COMMAND ${GOSCRY_BPFTOOL} gen skeleton ${obj} name ${name}_bpf > ${skel}
    DEPENDS ${obj}
    COMMENT "skeleton ${name}.skel.h"
    VERBATIM)
  add_custom_target(${name}_skel_gen DEPENDS ${skel})
  add_library(${name}_skel INTERFACE)
  add_dependencies(${name}_skel ${name}_skel_gen)
  # SYSTEM: the generated header is not ours to hold to -Werror.
  target_include_directories(${name}_skel SYSTEM INTERFACE ${out_dir})
  target_link_libraries(${name}_skel INTERFACE PkgConfig::LIBBPF)
endfunction()

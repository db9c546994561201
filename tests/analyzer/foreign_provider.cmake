# cmake -DSRC=tracer -DOUT=dir -P foreign_provider.cmake: the tracer's
# provider sources as another gilscope version could have them, `hold`'s
# `site` field named `where`, for analyzer.foreign (a process of that
# version traced beside one of ours through one session daemon).
file(READ ${SRC}/gilscope_tp.h text)
set(from "lttng_ust_field_sequence(int32_t, site, site,")
string(REPLACE "${from}" "lttng_ust_field_sequence(int32_t, where, site," out "${text}")
if(out STREQUAL text)
  message(FATAL_ERROR "foreign_provider.cmake: no \"${from}\" in ${SRC}/gilscope_tp.h")
endif()
file(WRITE ${OUT}/gilscope_tp.h "${out}")
configure_file(${SRC}/gilscope_tp.c ${OUT}/gilscope_tp.c COPYONLY)
configure_file(${SRC}/gilscope_ctl_tp.h ${OUT}/gilscope_ctl_tp.h COPYONLY)

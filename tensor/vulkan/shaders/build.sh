#!/bin/sh
# Compiles the GLSL compute shaders to SPIR-V (run by `go generate` in
# tensor/vulkan; needs glslc from shaderc). The .spv files are committed.
set -eu
cd "$(dirname "$0")"
c() { glslc --target-env=vulkan1.0 -O -fshader-stage=compute "$@"; }
for w in f32 bf16 f16; do
  W=$(echo "$w" | tr a-z A-Z)
  c -DW_"$W" matvec.comp -o matvec_"$w".spv
  c -DW_"$W" matmul.comp -o matmul_"$w".spv
done
for s in rmsnorm rope attention silumul copy; do
  c "$s".comp -o "$s".spv
done

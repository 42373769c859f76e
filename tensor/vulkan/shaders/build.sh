#!/bin/sh
# Compiles the GLSL compute shaders to SPIR-V (run by `go generate` in
# tensor/vulkan; needs glslc from shaderc). The .spv files are committed.
# matvec uses subgroup arithmetic (Vulkan 1.1); the rest is Vulkan 1.0.
set -eu
cd "$(dirname "$0")"
c() { env=$1; shift; glslc --target-env="$env" -O -fshader-stage=compute "$@"; }
for w in f32 bf16 f16; do
  W=$(echo "$w" | tr a-z A-Z)
  c vulkan1.1 -DW_"$W" matvec.comp -o matvec_"$w".spv
  c vulkan1.0 -DW_"$W" matmul.comp -o matmul_"$w".spv
done
for s in rmsnorm rope attention silumul copy; do
  c vulkan1.0 "$s".comp -o "$s".spv
done

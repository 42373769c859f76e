// Package vulkan is an optional compute backend: it reaches the system's
// Vulkan loader (libvulkan.so.1) at run time through ebitengine/purego, with
// no cgo, and offers just what a decoder needs — devices, buffers, compute
// pipelines built from embedded SPIR-V, command streams with fences — plus
// the kernels of package tensor as shaders (matvec and tiled matmul over
// f32/bf16/f16 weights, RMSNorm, RoPE, attention, SiLU·mul, copies).
//
// Everything that touches Vulkan is behind the `vulkan` build tag, because
// loading a shared library makes the binary dynamically linked; the default
// (static) build compiles only stub.go, whose functions report that the
// binary was built without Vulkan. The Vulkan structs are generated from
// vulkan_core.h by internal/vkgen, which also records the C compiler's sizes
// and offsets for the layout tests; the shaders are GLSL in shaders/,
// compiled by glslc. `go generate` rebuilds both (needs libvulkan-dev, cc and
// glslc); the outputs are committed.
//
// The package knows nothing about Qwen: model/qwen/qwenvk drives it.
package vulkan

//go:generate go run ./internal/vkgen
//go:generate sh shaders/build.sh

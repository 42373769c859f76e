//go:build !purego

package asm

// neonKernels: Advanced SIMD is part of every arm64 CPU. SiLU, softmax and
// RoPE run the references on this level.
var neonKernels = &vecKernels{
	lanes: 4,
	dot:   dotF32_neon, axpy: axpyF32_neon, sumSq: sumSqF32_neon,
	scale: scaleF32_neon, add: addF32_neon, mulScale: mulScaleF32_neon,
	peakFMA: peakFMA_neon,
	f32:     mmSet{tiles: tilesF32_neon, mv: mvSet{tile: mmF32_neon_1x8, n: 8}},
	bf16:    mmSet{tiles: tilesBF16_neon, mv: mvSet{tile: mmBF16_neon_1x8, n: 8}},
	f16:     mmSet{tiles: tilesF16_neon, mv: mvSet{tile: mmF16_neon_1x8, n: 8}},
}

func archLevels() []*impl { return []*impl{neonKernels.impl("neon")} }

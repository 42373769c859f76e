//go:build !purego

package asm

import "github.com/klauspost/cpuid/v2"

var avx512Kernels = &vecKernels{
	lanes: 16,
	dot:   dotF32_avx512, axpy: axpyF32_avx512, sumSq: sumSqF32_avx512,
	scale: scaleF32_avx512, add: addF32_avx512, mulScale: mulScaleF32_avx512,
	siluMul: siluMulF32_avx512, max: maxF32_avx512, expSum: expSumF32_avx512,
	rope: ropeF32_avx512, peakFMA: peakFMA_avx512, peakDP: peakDP_avx512, toBF16: f32ToBF16_avx512,
	f32: mmSet{tiles: tilesF32_avx512, ks: tilesKSF32_avx512, pf: tilesPFF32_avx512, strip: mmF32_avx512_6x4_strip, ksStrip: mmF32_avx512_6x4_ks_strip,
		mv: mvSet{rows: mmF32_avx512_rows, long: mmF32_avx512_rows4}},
	bf16: mmSet{tiles: tilesBF16_avx512, ks: tilesKSBF16_avx512, pf: tilesPFBF16_avx512, strip: mmBF16_avx512_5x4_u2_strip, ksStrip: mmBF16_avx512_5x4_u2_ks_strip,
		mv: mvSet{rows: mmBF16_avx512_rows, long: mmBF16_avx512_rows4}},
	f16: mmSet{tiles: tilesF16_avx512, ks: tilesKSF16_avx512, pf: tilesPFF16_avx512, strip: mmF16_avx512_6x4_strip, ksStrip: mmF16_avx512_6x4_ks_strip,
		mv: mvSet{rows: mmF16_avx512_rows, long: mmF16_avx512_rows4}},
	nn: nnF32_avx512,
}

var avx2Kernels = &vecKernels{
	lanes: 8,
	dot:   dotF32_avx2, axpy: axpyF32_avx2, sumSq: sumSqF32_avx2,
	scale: scaleF32_avx2, add: addF32_avx2, mulScale: mulScaleF32_avx2,
	siluMul: siluMulF32_avx2, max: maxF32_avx2, expSum: expSumF32_avx2,
	rope: ropeF32_avx2, peakFMA: peakFMA_avx2,
	// Matrix-vector products a row at a time, long rows four at a time
	// (rows256; see mvSet).
	f32: mmSet{tiles: tilesF32_avx2, ks: tilesKSF32_avx2, strip: mmF32_avx2_3x4_strip, ksStrip: mmF32_avx2_3x4_ks_strip,
		mv: mvSet{rows: mmF32_avx2_rows, long: mmF32_avx2_rows4}},
	bf16: mmSet{tiles: tilesBF16_avx2, ks: tilesKSBF16_avx2, strip: mmBF16_avx2_3x4_strip, ksStrip: mmBF16_avx2_3x4_ks_strip,
		mv: mvSet{rows: mmBF16_avx2_rows, long: mmBF16_avx2_rows4}},
	f16: mmSet{tiles: tilesF16_avx2, ks: tilesKSF16_avx2, strip: mmF16_avx2_3x4_strip, ksStrip: mmF16_avx2_3x4_ks_strip,
		mv: mvSet{rows: mmF16_avx2_rows, long: mmF16_avx2_rows4}},
}

func archLevels() []*impl {
	var out []*impl
	c := &cpuid.CPU
	if c.Supports(cpuid.AVX512F, cpuid.AVX512VL, cpuid.AVX512BW, cpuid.FMA3) {
		if c.Supports(cpuid.AVX512BF16) {
			bf := *avx512Kernels
			bf.bf16dp = mmSet{tiles: tilesBF16DP_avx512, ks: tilesKSBF16DP_avx512, pf: tilesPFBF16DP_avx512,
				strip: mmBF16DP_avx512_6x4_strip, ksStrip: mmBF16DP_avx512_6x4_ks_strip,
				mv: mvSet{rows: mmBF16DP_avx512_rows}}
			out = append(out, bf.impl("avx512bf16"))
		}
		out = append(out, avx512Kernels.impl("avx512"))
	}
	if c.Supports(cpuid.AVX2, cpuid.FMA3, cpuid.F16C) {
		out = append(out, avx2Kernels.impl("avx2"))
	}
	return out
}

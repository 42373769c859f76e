package main

import (
	"fmt"
	"path/filepath"
	"strings"
)

// A64 encodings of the NEON instructions Go's arm64 assembler lacks.
func faddV(d, n, m int) string { // FADD Vd.4S, Vn.4S, Vm.4S
	return fmt.Sprintf("WORD $0x%08X // FADD V%d.4S, V%d.4S, V%d.4S", 0x4E20D400|m<<16|n<<5|d, d, n, m)
}

func fmulV(d, n, m int) string { // FMUL Vd.4S, Vn.4S, Vm.4S
	return fmt.Sprintf("WORD $0x%08X // FMUL V%d.4S, V%d.4S, V%d.4S", 0x6E20DC00|m<<16|n<<5|d, d, n, m)
}

func faddpS(d, n int) string { // FADDP Sd, Vn.2S
	return fmt.Sprintf("WORD $0x%08X // FADDP S%d, V%d.2S", 0x7E30D800|n<<5|d, d, n)
}

func fcvtl(d, n int) string { // FCVTL Vd.4S, Vn.4H
	return fmt.Sprintf("WORD $0x%08X // FCVTL V%d.4S, V%d.4H", 0x0E217800|n<<5|d, d, n)
}

// neonHsum reduces V<a> to lane 0 in the documented order:
// s2[i] = l[i] + l[i+2], s = s2[0] + s2[1]. V<t> is scratch.
func neonHsum(b *buf, a, t int) {
	b.p("\tVEXT $8, V%d.B16, V%d.B16, V%d.B16", a, a, t)
	b.p("\t%s", faddV(a, a, t))
	b.p("\t%s", faddpS(a, a))
}

// neonTile emits the mr×nr dot-form micro-kernel over 4-lane k blocks.
func neonTile(b *buf, dt dtype, mr, nr int) string {
	name := fmt.Sprintf("mm%s_neon_%dx%d", dt.name, mr, nr)
	b.p("// func %s(x unsafe.Pointer, ldx uintptr, w unsafe.Pointer, ldw uintptr, y unsafe.Pointer, ldy uintptr, nblk uintptr)", name)
	b.p("TEXT ·%s(SB), NOSPLIT, $0-56", name)
	b.p("\tMOVD x+0(FP), R0")
	b.p("\tMOVD ldx+8(FP), R19")
	b.p("\tMOVD w+16(FP), R4")
	b.p("\tMOVD ldw+24(FP), R20")
	b.p("\tMOVD y+32(FP), R12")
	b.p("\tMOVD ldy+40(FP), R13")
	b.p("\tMOVD nblk+48(FP), R14")
	for t := 1; t < mr; t++ {
		b.p("\tADD R19, R%d, R%d", t-1, t)
	}
	for r := 1; r < nr; r++ {
		b.p("\tADD R20, R%d, R%d", 4+r-1, 4+r)
	}
	acc := func(t, r int) int { return t*nr + r }
	for t := 0; t < mr; t++ {
		for r := 0; r < nr; r++ {
			a := acc(t, r)
			b.p("\tVEOR V%d.B16, V%d.B16, V%d.B16", a, a, a)
		}
	}
	b.p("\tVEOR V31.B16, V31.B16, V31.B16")
	b.p("\tCBZ R14, reduce")
	b.p("loop:")
	for t := 0; t < mr; t++ {
		b.p("\tVLD1.P 16(R%d), [V%d.S4]", t, 16+t)
	}
	for r := 0; r < nr; r++ {
		w := 24 + r%4
		switch dt.name {
		case "F32":
			b.p("\tVLD1.P 16(R%d), [V%d.S4]", 4+r, w)
		case "BF16":
			b.p("\tVLD1.P 8(R%d), [V%d.H4]", 4+r, w)
			b.p("\tVZIP1 V%d.H8, V31.H8, V%d.H8", w, w)
		case "F16":
			b.p("\tVLD1.P 8(R%d), [V%d.H4]", 4+r, w)
			b.p("\t%s", fcvtl(w, w))
		}
		for t := 0; t < mr; t++ {
			b.p("\tVFMLA V%d.S4, V%d.S4, V%d.S4", w, 16+t, acc(t, r))
		}
	}
	b.p("\tSUBS $1, R14, R14")
	b.p("\tBNE loop")
	b.p("reduce:")
	b.p("\tMOVD R12, R0")
	for t := 1; t < mr; t++ {
		b.p("\tADD R13, R%d, R%d", t-1, t)
	}
	for t := 0; t < mr; t++ {
		for r := 0; r < nr; r++ {
			a := acc(t, r)
			neonHsum(b, a, 28)
			b.p("\tFMOVS F%d, %d(R%d)", a, 4*r, t)
		}
	}
	b.p("\tRET\n")
	return name
}

func genARM64(out string) {
	var s, g buf
	s.p("%s//go:build !purego\n\n#include \"textflag.h\"\n", strings.TrimSuffix(header, "\n"))
	g.p("%s//go:build !purego\n\npackage asm\n\nimport \"unsafe\"\n", strings.TrimSuffix(header, "\n"))
	decl := func(n string) {
		g.p("//go:noescape\nfunc %s(x unsafe.Pointer, ldx uintptr, w unsafe.Pointer, ldw uintptr, y unsafe.Pointer, ldy uintptr, nblk uintptr)\n", n)
	}
	for _, dt := range dtypes {
		var rows []string
		for mr := 1; mr <= 4; mr++ {
			var row []string
			for nr := 1; nr <= 4; nr++ {
				n := neonTile(&s, dt, mr, nr)
				decl(n)
				row = append(row, n)
			}
			rows = append(rows, "{"+strings.Join(row, ", ")+"}")
		}
		mv := neonTile(&s, dt, 1, 8)
		decl(mv)
		g.p("var tiles%s_neon = tileSet{\n%s,\n}\n", dt.name, strings.Join(rows, ",\n"))
	}
	neonVec(&s, &g)
	write(filepath.Join(out, "zkernels_arm64.s"), s.Bytes(), false)
	write(filepath.Join(out, "zkernels_arm64.go"), g.Bytes(), true)
}

func neonVec(s, g *buf) {
	type fn struct {
		name, sig string
		frame     int
		body      []string
	}
	loop := func(pre, body, post []string) []string {
		out := append([]string{}, pre...)
		out = append(out, "CBZ R3, done", "loop:")
		out = append(out, body...)
		out = append(out, "SUBS $1, R3, R3", "BNE loop", "done:")
		return append(out, post...)
	}
	hs := func(a, t int) []string {
		var b buf
		neonHsum(&b, a, t)
		var out []string
		for _, l := range strings.Split(strings.TrimSpace(b.String()), "\n") {
			out = append(out, strings.TrimSpace(l))
		}
		return out
	}
	zero := func(rs ...int) []string {
		var out []string
		for _, r := range rs {
			out = append(out, fmt.Sprintf("VEOR V%d.B16, V%d.B16, V%d.B16", r, r, r))
		}
		return out
	}
	fns := []fn{
		{"dotF32_neon", "(a, b unsafe.Pointer, nblk uintptr) float32", 28, loop(
			append([]string{"MOVD a+0(FP), R0", "MOVD b+8(FP), R1", "MOVD nblk+16(FP), R3"}, zero(0)...),
			[]string{"VLD1.P 16(R0), [V4.S4]", "VLD1.P 16(R1), [V5.S4]", "VFMLA V5.S4, V4.S4, V0.S4"},
			append(hs(0, 1), "FMOVS F0, ret+24(FP)"))},
		{"sumSqF32_neon", "(x unsafe.Pointer, nblk uintptr) float32", 20, loop(
			append([]string{"MOVD x+0(FP), R0", "MOVD nblk+8(FP), R3"}, zero(0)...),
			[]string{"VLD1.P 16(R0), [V4.S4]", "VFMLA V4.S4, V4.S4, V0.S4"},
			append(hs(0, 1), "FMOVS F0, ret+16(FP)"))},
		{"axpyF32_neon", "(alpha float32, x, y unsafe.Pointer, nblk uintptr)", 32, loop(
			[]string{"FMOVS alpha+0(FP), F15", "VDUP V15.S[0], V15.S4", "MOVD x+8(FP), R0", "MOVD y+16(FP), R1", "MOVD nblk+24(FP), R3"},
			[]string{"VLD1.P 16(R0), [V0.S4]", "VLD1 (R1), [V1.S4]", "VFMLA V15.S4, V0.S4, V1.S4", "VST1.P [V1.S4], 16(R1)"},
			nil)},
		{"scaleF32_neon", "(alpha float32, x unsafe.Pointer, nblk uintptr)", 24, loop(
			[]string{"FMOVS alpha+0(FP), F15", "VDUP V15.S[0], V15.S4", "MOVD x+8(FP), R0", "MOVD nblk+16(FP), R3"},
			[]string{"VLD1 (R0), [V0.S4]", fmulV(0, 0, 15), "VST1.P [V0.S4], 16(R0)"},
			nil)},
		{"addF32_neon", "(dst, a, b unsafe.Pointer, nblk uintptr)", 32, loop(
			[]string{"MOVD dst+0(FP), R2", "MOVD a+8(FP), R0", "MOVD b+16(FP), R1", "MOVD nblk+24(FP), R3"},
			[]string{"VLD1.P 16(R0), [V0.S4]", "VLD1.P 16(R1), [V1.S4]", faddV(0, 0, 1), "VST1.P [V0.S4], 16(R2)"},
			nil)},
		{"mulScaleF32_neon", "(dst, x, w unsafe.Pointer, r float32, nblk uintptr)", 40, loop(
			[]string{"MOVD dst+0(FP), R2", "MOVD x+8(FP), R0", "MOVD w+16(FP), R1", "FMOVS r+24(FP), F15", "VDUP V15.S[0], V15.S4", "MOVD nblk+32(FP), R3"},
			[]string{"VLD1.P 16(R0), [V0.S4]", "VLD1.P 16(R1), [V1.S4]", fmulV(0, 0, 15), fmulV(0, 1, 0), "VST1.P [V0.S4], 16(R2)"},
			nil)},
	}
	var pk []string
	for i := 0; i < 12; i++ {
		pk = append(pk, fmt.Sprintf("VFMLA V13.S4, V12.S4, V%d.S4", i))
	}
	fns = append(fns, fn{"peakFMA_neon", "(n uintptr)", 8, loop(
		append([]string{"MOVD n+0(FP), R3"}, zero(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13)...), pk, nil)})
	for _, f := range fns {
		g.p("//go:noescape\nfunc %s%s\n", f.name, f.sig)
		s.p("// func %s%s", f.name, f.sig)
		s.p("TEXT ·%s(SB), NOSPLIT, $0-%d", f.name, f.frame)
		for _, l := range f.body {
			if strings.HasSuffix(l, ":") {
				s.p("%s", l)
			} else {
				s.p("\t%s", l)
			}
		}
		s.p("\tRET\n")
	}
}

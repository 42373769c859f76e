package tensor

import "testing"

// HugeF32 and HugeBytes are a zeroed, writable slice of the asked length whether or not
// huge pages were advised (below 4 MiB they are not).
func TestHugeF32(t *testing.T) {
	for _, n := range []int{0, 1, 1000, 3 << 20, 5<<20 + 3} {
		s := HugeF32(n)
		if len(s) != n {
			t.Fatalf("HugeF32(%d): len %d", n, len(s))
		}
		for i := 0; i < n; i += 4093 {
			if s[i] != 0 {
				t.Fatalf("HugeF32(%d)[%d] = %g, want 0", n, i, s[i])
			}
			s[i] = float32(i)
		}
		if n > 0 {
			s[n-1] = 1
		}
		b := HugeBytes(n)
		if len(b) != n {
			t.Fatalf("HugeBytes(%d): len %d", n, len(b))
		}
		for i := 0; i < n; i += 4093 {
			if b[i] != 0 {
				t.Fatalf("HugeBytes(%d)[%d] = %d, want 0", n, i, b[i])
			}
			b[i] = 1
		}
	}
}

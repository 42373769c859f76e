package main

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/latentmas/latentmas/model/qwen"
)

// bench --json prints one object with the figures the issue names, for
// the compute mode asked for.
func TestBenchJSON(t *testing.T) {
	code, stdout, stderr := run(t, "bench", "--shape", "qwen2.5-0.5b", "--dtype", "bf16", "--compute", "bf16",
		"--prompt", "8", "--gen", "2", "--rounds", "2", "--threads", "1", "--json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var r struct {
		PrefillTokS             float64    `json:"prefill_tok_s"`
		DecodeTokS              float64    `json:"decode_tok_s"`
		DecodeBWFraction        float64    `json:"decode_bw_fraction"`
		DecodeBWFractionIntl    float64    `json:"decode_bw_fraction_interleaved"`
		DecodeBWFractionIQR     [2]float64 `json:"decode_bw_fraction_interleaved_iqr"`
		DecodeKVBytes           int64      `json:"decode_kv_bytes"`
		DecodeReadFraction      float64    `json:"decode_read_fraction"`
		PrefillPeakFraction     float64    `json:"prefill_peak_fraction"`
		PrefillBF16PeakFraction float64    `json:"prefill_bf16_peak_fraction"`
		Threads                 int        `json:"threads"`
		Rounds                  int        `json:"rounds"`
		Dispatch                string     `json:"dispatch"`
		Compute                 string     `json:"compute"`
		HugePages               bool       `json:"huge_pages"`
		Limits                  struct {
			ReadGBs float64 `json:"read_gb_s"`
		} `json:"limits"`
	}
	if err := json.Unmarshal([]byte(stdout), &r); err != nil {
		t.Fatalf("not one JSON object: %v\n%s", err, stdout)
	}
	if r.Threads != 1 || r.Dispatch == "" || r.Compute != "bf16" || r.Rounds != 2 || !r.HugePages {
		t.Errorf("threads %d, dispatch %q, compute %q, rounds %d, huge pages %v; want 1, a level, bf16, 2, true", r.Threads, r.Dispatch, r.Compute, r.Rounds, r.HugePages)
	}
	if !(r.PrefillTokS > 0 && r.DecodeTokS > 0 && r.DecodeBWFraction > 0 && r.PrefillPeakFraction > 0 && r.Limits.ReadGBs > 0) {
		t.Errorf("missing figures: %+v", r)
	}
	if q := r.DecodeBWFractionIQR; !(r.DecodeBWFractionIntl > 0 && q[0] <= r.DecodeBWFractionIntl && r.DecodeBWFractionIntl <= q[1]) {
		t.Errorf("decode_bw_fraction_interleaved %g, quartiles %v: want a positive median between them", r.DecodeBWFractionIntl, q)
	}
	// Two decode steps attend over 9 and 10 positions: 9.5 on average,
	// float32 keys and values of every layer.
	cfg, err := qwen.Shape("qwen2.5-0.5b")
	if err != nil {
		t.Fatal(err)
	}
	if want := int64(9.5 * float64(2*4*cfg.NumLayers*cfg.KVDim())); r.DecodeKVBytes != want {
		t.Errorf("decode_kv_bytes %d, want %d", r.DecodeKVBytes, want)
	}
	if !(r.DecodeReadFraction > r.DecodeBWFraction) {
		t.Errorf("decode_read_fraction %g not above decode_bw_fraction %g", r.DecodeReadFraction, r.DecodeBWFraction)
	}
	// With bf16 activations the prefill peak is the BF16 one (when the
	// CPU has VDPBF16PS; elsewhere both are zero or the FMA fallback).
	if r.PrefillBF16PeakFraction > 0 && r.PrefillPeakFraction != r.PrefillBF16PeakFraction {
		t.Errorf("prefill_peak_fraction %g, want the BF16 one %g", r.PrefillPeakFraction, r.PrefillBF16PeakFraction)
	}
}

func TestBenchErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"bench", "--compute", "f8"}, `--compute "f8": want f32 or bf16`},
		{[]string{"bench", "--dtype", "int4"}, `unknown dtype "int4"`},
		{[]string{"bench", "--prompt", "0"}, "--prompt and --rounds must be ≥ 1"},
		{[]string{"bench", "--rounds", "0"}, "--prompt and --rounds must be ≥ 1"},
		{[]string{"bench", "--shape", "llama-7b"}, "llama-7b"},
	} {
		code, _, stderr := run(t, tc.args...)
		if code != 1 || !strings.Contains(stderr, tc.want) {
			t.Errorf("%v: exit %d, stderr %q, want %q", tc.args, code, stderr, tc.want)
		}
	}
}

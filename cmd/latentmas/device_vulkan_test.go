//go:build vulkan

package main

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
)

const vulkanBuild = true

// latentmas run --device vulkan runs the whole latent_mas pipeline (prompt
// prefill, latent rollout, judger decoding) on the Vulkan device and agrees
// with the CPU run on every greedy token of this small model.
func TestRunOnVulkan(t *testing.T) {
	cpu, vk := t.TempDir(), t.TempDir()
	for _, o := range [][]string{{cpu, "cpu"}, {vk, "vulkan"}} {
		code, _, stderr := run(t, runArgs(t, o[0], "--max_samples", "2", "--temperature", "0", "--latent_space_realign", "--device", o[1])...)
		if code != 0 {
			t.Fatalf("--device %s: exit %d: %s", o[1], code, stderr)
		}
	}
	a, b := readFile(t, filepath.Join(cpu, "results.jsonl")), readFile(t, filepath.Join(vk, "results.jsonl"))
	for i, la := range strings.Split(strings.TrimSpace(a), "\n") {
		lb := strings.Split(strings.TrimSpace(b), "\n")[i]
		var ra, rb struct {
			RawPrediction string `json:"raw_prediction"`
			PeakKV        int64  `json:"peak_kv_bytes"`
		}
		json.Unmarshal([]byte(la), &ra)
		json.Unmarshal([]byte(lb), &rb)
		if ra != rb {
			t.Errorf("problem %d: cpu %+v, vulkan %+v", i, ra, rb)
		}
	}
}

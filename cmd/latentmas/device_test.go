package main

import (
	"strings"
	"testing"
)

// In the default (static) build, an explicit Vulkan request fails with one
// line and auto falls back to the CPU, saying so.
func TestDeviceWithoutVulkan(t *testing.T) {
	if vulkanBuild {
		t.Skip("this is the vulkan build; see device_vulkan_test.go")
	}
	model := goldenModel(t, "qwen3-tiny")
	code, _, stderr := run(t, "logits", "--model", model, "--ids", "1,2", "--device", "vulkan")
	if code != 1 || strings.Count(strings.TrimSpace(stderr), "\n") != 0 || !strings.Contains(stderr, "without Vulkan support") {
		t.Errorf("--device vulkan: exit %d, stderr %q", code, stderr)
	}
	code, stdout, stderr := run(t, "logits", "--model", model, "--ids", "1,2", "--device", "auto")
	if code != 0 || !strings.Contains(stderr, "using the CPU") || !strings.Contains(stdout, `"positions"`) {
		t.Errorf("--device auto: exit %d, stderr %q", code, stderr)
	}
	code, _, stderr = run(t, "logits", "--model", model, "--ids", "1", "--device", "tpu")
	if code != 1 || !strings.Contains(stderr, "want cpu, auto, vulkan or vulkan:N") {
		t.Errorf("--device tpu: exit %d, stderr %q", code, stderr)
	}
}

package main

import (
	"fmt"
	"io"
	"strings"

	"github.com/latentmas/latentmas/model/qwen"
	"github.com/latentmas/latentmas/model/qwen/qwenvk"
)

const deviceHelp = "compute device: cpu, auto (Vulkan if present, else CPU), vulkan or vulkan:N (the latentmas-vulkan build; `latentmas-vulkan devices` lists them)"

// attachDevice moves m's forward pass onto the --device, if it names one.
// The reference's cuda spellings mean "a GPU if there is one": auto. The
// returned function releases the device.
func attachDevice(m *qwen.Model, spec string, stderr io.Writer) (func(), error) {
	if s := strings.ToLower(spec); s == "cuda" || strings.HasPrefix(s, "cuda:") {
		fmt.Fprintf(stderr, "latentmas: --device %s taken as auto\n", spec)
		spec = "auto"
	}
	dev, err := qwenvk.Open(spec, stderr)
	if err != nil {
		return nil, err
	}
	if dev == nil {
		return func() {}, nil
	}
	if m.BF16Activations() {
		dev.Close()
		return nil, fmt.Errorf("--compute bf16 runs on the CPU only; the Vulkan path computes in float32 (drop --compute or use --device cpu)")
	}
	vm, err := qwenvk.New(m, dev)
	if err != nil {
		dev.Close()
		return nil, err
	}
	m.SetBackend(vm)
	return func() {
		m.SetBackend(nil)
		vm.Close()
		dev.Close()
	}, nil
}

//go:build vulkan

package main

import (
	"encoding/json"
	"fmt"
	"io"

	"github.com/latentmas/latentmas/tensor/vulkan"
)

func init() {
	register(command{
		name:    "devices",
		summary: "list the Vulkan devices this binary can use (--device vulkan:N)",
		run:     runDevices,
	})
}

func runDevices(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("devices", `Usage: latentmas devices [--json]

Lists the Vulkan devices the system's loader (libvulkan.so.1, or
$LATENTMAS_VULKAN_LOADER) reports, with their memory and compute limits.
The index N is what --device vulkan:N selects; --device vulkan picks the
best (discrete, integrated, virtual, then CPU).`, stderr)
	asJSON := fs.Bool("json", false, "print JSON")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	infos, err := vulkan.Devices()
	if err != nil {
		return err
	}
	if *asJSON {
		return json.NewEncoder(stdout).Encode(infos)
	}
	if len(infos) == 0 {
		return fmt.Errorf("the Vulkan loader reports no devices")
	}
	for _, in := range infos {
		fmt.Fprintf(stdout, "vulkan:%d  %s\n", in.Index, in.Name)
		fmt.Fprintf(stdout, "    type %s, Vulkan %s, vendor 0x%04x device 0x%04x\n", in.Type, in.API, in.VendorID, in.DeviceID)
		mapped := "no"
		if in.HostVisibleDeviceLocal {
			mapped = "yes"
		}
		fmt.Fprintf(stdout, "    memory: %.2f GiB device-local (host-mappable: %s)\n", float64(in.DeviceLocalBytes)/(1<<30), mapped)
		if in.ComputeQueue < 0 {
			fmt.Fprintf(stdout, "    no compute queue: not usable\n")
			continue
		}
		fmt.Fprintf(stdout, "    limits: storage buffer %d MiB, shared memory %d KiB, workgroup %d invocations %v, groups %v, push constants %d B, allocations %d\n",
			in.MaxStorageBufferRange>>20, in.MaxComputeSharedMemory>>10, in.MaxWorkGroupInvocations, in.MaxWorkGroupSize, in.MaxWorkGroupCount,
			in.MaxPushConstantsSize, in.MaxMemoryAllocations)
	}
	return nil
}

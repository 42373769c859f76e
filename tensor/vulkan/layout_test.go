//go:build vulkan

package vulkan

import "testing"

type fieldLayout struct {
	Name         string
	Offset, Size uintptr
}

type structLayout struct {
	Name        string
	Size, Align uintptr
	Fields      []fieldLayout
}

// TestStructLayout checks every Go declaration of a Vulkan struct against
// the sizes and offsets the C compiler computed from vulkan_core.h
// (zlayout_test.go, written by internal/vkgen).
func TestStructLayout(t *testing.T) {
	if len(cLayouts) != len(goTypes) {
		t.Fatalf("%d C layouts, %d Go types", len(cLayouts), len(goTypes))
	}
	for _, c := range cLayouts {
		g, ok := goTypes[c.Name]
		if !ok {
			t.Errorf("%s: no Go type", c.Name)
			continue
		}
		if g.Size() != c.Size || uintptr(g.Align()) != c.Align {
			t.Errorf("%s: Go size/align %d/%d, C %d/%d", c.Name, g.Size(), g.Align(), c.Size, c.Align)
		}
		if g.NumField() != len(c.Fields) {
			t.Errorf("%s: Go has %d fields, C %d", c.Name, g.NumField(), len(c.Fields))
			continue
		}
		for i, f := range c.Fields {
			gf := g.Field(i)
			if gf.Name != f.Name || gf.Offset != f.Offset || gf.Type.Size() != f.Size {
				t.Errorf("%s field %d: Go %s at %d (%d bytes), C %s at %d (%d bytes)", c.Name, i, gf.Name, gf.Offset, gf.Type.Size(), f.Name, f.Offset, f.Size)
			}
		}
	}
}

//go:build !amd64 || purego

package asm

func archLevels() []*impl { return nil }

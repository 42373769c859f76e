package main

import (
	"os"
	"strings"
	"testing"
)

// TestMain lets tests re-run this test binary as the latentmas command (for
// tests that must kill a real process): with LATENTMAS_AS_CLI set it runs
// main with the arguments after "--".
func TestMain(m *testing.M) {
	if os.Getenv("LATENTMAS_AS_CLI") == "1" {
		args := os.Args[1:]
		for i, a := range args {
			if a == "--" {
				args = args[i+1:]
				break
			}
		}
		os.Exit(runMain(args, os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

func hasAll(s string, parts ...string) bool {
	for _, p := range parts {
		if !strings.Contains(s, p) {
			return false
		}
	}
	return true
}

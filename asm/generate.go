package asm

//go:generate go run ./internal/gen -o .

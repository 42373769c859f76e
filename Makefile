# latentmas — build, test and benchmark targets. `make help` lists them.
GO       ?= go
BIN      ?= bin
PKGS     ?= ./...
# Fuzz budget as an execution count: a duration races Go's fuzz coordinator
# at the deadline (go.dev/issue/75804, fixed in Go 1.27) and fails spuriously.
FUZZTIME ?= 100000x
export CGO_ENABLED := 0

.PHONY: help build test test-levels fuzz bench lint static clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/' | expand -t 12

build: ## build the static latentmas binary into bin/
	$(GO) build -trimpath -o $(BIN)/latentmas ./cmd/latentmas

test: ## vet, unit + golden conformance tests, then bounded fuzzing
	$(GO) vet $(PKGS)
	$(GO) test -count=1 $(PKGS)
	$(MAKE) test-levels
	$(MAKE) fuzz

test-levels: ## golden conformance on every lower kernel dispatch level and the pure-Go build
	@for lvl in generic avx2; do echo "LATENTMAS_CPU=$$lvl"; LATENTMAS_CPU=$$lvl $(GO) test -count=1 ./model/qwen ./latent || exit 1; done
	$(GO) test -count=1 -tags purego ./asm ./tensor ./model/qwen

fuzz: ## run every fuzz target for FUZZTIME each
	@set -e; for spec in $$(grep -rl --include='*_test.go' '^func Fuzz' . | xargs grep -ho '^func Fuzz[A-Za-z0-9_]*' /dev/null | sort -u | sed 's/func //'); do \
	  dir=$$(grep -rl --include='*_test.go' "^func $$spec(" . | head -1 | xargs dirname); \
	  echo "fuzz $$dir $$spec ($(FUZZTIME))"; \
	  $(GO) test -run='^$$' -fuzz="^$$spec\$$" -fuzztime=$(FUZZTIME) $$dir; \
	done

bench: ## kernel and model benchmarks
	$(GO) test -run='^$$' -bench=. -benchtime=3x $(PKGS)

lint: ## gofmt and go vet
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); echo 'gofmt needed'; exit 1; }
	$(GO) vet $(PKGS)

static: build ## prove the default binary is built without cgo and links statically
	@file $(BIN)/latentmas | grep -q 'statically linked' || { file $(BIN)/latentmas; echo 'not static'; exit 1; }
	@if command -v ldd >/dev/null; then ldd $(BIN)/latentmas 2>&1 | grep -q 'not a dynamic executable' || { ldd $(BIN)/latentmas; exit 1; }; fi
	@$(GO) version -m $(BIN)/latentmas | grep -q 'CGO_ENABLED=0' || { echo 'built with cgo'; exit 1; }
	@echo "static: $(BIN)/latentmas is a static, cgo-free binary"

vulkan: ## build bin/latentmas-vulkan: the Vulkan flavour, dynamically linked, loads libvulkan.so.1 at run time (no cgo)
	$(GO) build -trimpath -tags vulkan -o $(BIN)/latentmas-vulkan ./cmd/latentmas
.PHONY: vulkan

clean: ## remove build outputs
	rm -rf $(BIN)

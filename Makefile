# immich-render. `make example` renders an example; `make test` installs the
# real consumers the tests need (Debian packages) and runs every test.
GO ?= go
BIN := immich-render
STATICCHECK := honnef.co/go/tools/cmd/staticcheck@v0.8.2
EXAMPLE ?= minimal

.PHONY: all build test unit integration golden lint bench bench-cli fuzz example deps clean rehearse

all: build

build:
	$(GO) build -o $(BIN) ./cmd/immich-render

deps:
	./scripts/install-deps.sh

# Every test, with the real consumers; integration tests skip without them
# unless IMMICH_RENDER_INTEGRATION=1 (as in CI), where a skip is a failure.
test: deps lint
	$(GO) test -race -count=1 -timeout 30m ./...

# The deploy rehearsal alone (root; part of `make test` too): examples
# deployed end to end on Debian 12 (real Podman 4.3, PostgreSQL 15, Valkey 8,
# nginx) and on a Debian 13 host booted with systemd-nspawn (Podman 5,
# PostgreSQL 17 with pgvector, Valkey 8.1, certbot against pebble), both
# following the output README.
rehearse: deps
	IMMICH_RENDER_INTEGRATION=1 $(GO) test -count=1 -timeout 30m -v -run '^(TestRehearsal|TestDebian13Host|TestShBlocks)$$' ./internal/rehearsal

# Fast tests only: no real servers.
unit:
	$(GO) test -short -count=1 ./...

# Rewrite golden/ from examples/ and docs/reference.md from the schema
# (read the diff before committing it).
golden:
	UPDATE_GOLDEN=1 $(GO) test -count=1 -run TestGolden ./cmd/immich-render
	UPDATE_GOLDEN=1 $(GO) test -count=1 -run TestReferenceDoc ./schema
	git status --short golden/ docs/

lint:
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); echo "gofmt: files above need formatting" >&2; exit 1; }
	$(GO) vet ./...
	$(GO) run $(STATICCHECK) ./...

bench:
	$(GO) test -run '^$$' -bench . -benchmem ./...

# Time the CLI as whole processes beside cue export, a bare writer and Ansible
# (installed with apt if missing); rewrites BENCHMARKS.md. Most of an hour, for
# Ansible on 200 hosts; BENCH_QUICK=1 make bench-cli takes a few minutes.
bench-cli:
	./internal/bench/run.sh

# Run each fuzz target for FUZZTIME (the seed corpora run in `make test`).
FUZZTIME ?= 30s
fuzz:
	@for pkg in $$($(GO) list ./...); do \
		for f in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz'); do \
			echo "== $$pkg $$f"; $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$pkg || exit 1; \
		done; \
	done

# Render examples/$(EXAMPLE) with its example secrets into out/$(EXAMPLE)
# and secrets/$(EXAMPLE).
example: build
	set -a; . examples/$(EXAMPLE)/env; set +a; \
	./$(BIN) $$(for f in examples/$(EXAMPLE)/immich.*; do printf -- '-c %s ' $$f; done) \
		$$(cat examples/$(EXAMPLE)/args 2>/dev/null) \
		-o out/$(EXAMPLE) --secrets-out out/$(EXAMPLE)-secrets
	@echo "rendered examples/$(EXAMPLE) into out/$(EXAMPLE) (secrets in out/$(EXAMPLE)-secrets)"

clean:
	rm -rf $(BIN) out/

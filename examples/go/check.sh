#!/usr/bin/env bash
# Compiles dbond's .proto files with the standard Go toolchain: protoc with
# protoc-gen-go and protoc-gen-go-grpc into a scratch GOPATH, then `go build`s
# the generated package and the small program in this folder against it.
# Offline, from Debian's packages (see README.md); prints what it ran.
#
# usage: examples/go/check.sh [SCRATCH_DIR]
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
scratch="${1:-$(mktemp -d)}"
gocode="${DBOND_GOCODE:-/usr/share/gocode}"

for tool in go protoc; do
    command -v "$tool" >/dev/null || { echo "check.sh: '$tool' is not installed (see examples/go/README.md)" >&2; exit 3; }
done
export GO111MODULE=off GOFLAGS= GOCACHE="$scratch/cache" GOPATH="$scratch/gopath:$gocode"
mkdir -p "$scratch/bin" "$scratch/gopath/src/dbond-example"

# The two protoc plugins, built from their Debian sources (or taken from PATH).
for plugin in protoc-gen-go:google.golang.org/protobuf/cmd/protoc-gen-go \
              protoc-gen-go-grpc:google.golang.org/grpc/cmd/protoc-gen-go-grpc; do
    name="${plugin%%:*}"
    if command -v "$name" >/dev/null; then
        ln -sf "$(command -v "$name")" "$scratch/bin/$name"
    else
        echo "+ go build -o $scratch/bin/$name ${plugin#*:}"
        go build -o "$scratch/bin/$name" "${plugin#*:}"
    fi
done
export PATH="$scratch/bin:$PATH"

echo "+ protoc -I proto --go_out --go-grpc_out proto/diaspora/bonds/v1/*.proto"
(cd "$repo" && protoc -I proto \
    --go_out="$scratch/gopath/src" --go-grpc_out="$scratch/gopath/src" \
    proto/diaspora/bonds/v1/*.proto)

cp "$here/main.go" "$scratch/gopath/src/dbond-example/main.go"
echo "+ go vet dbond/gen/go/diaspora/bonds/v1 && go build dbond-example"
go vet dbond/gen/go/diaspora/bonds/v1
go build -o "$scratch/bin/dbond-example" dbond-example
"$scratch/bin/dbond-example"

package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/nuage-storage/nuage/internal/testnet"
)

// BenchmarkTreeTransfer measures put -r and get -r of a tree of many small
// files (the latency-bound case the parallel workers and the client's
// group commits are for) through the CLI, in process, against an
// in-process network. Bytes are the files' plaintext.
func BenchmarkTreeTransfer(b *testing.B) {
	const folders, perFolder, size = 10, 50, 1000
	net := testnet.New(b, testnet.Options{})
	dir := b.TempDir()
	b.Setenv("NUAGE_SERVER", net.URL)
	b.Setenv("NUAGE_CONFIG", filepath.Join(dir, "cfg"))
	b.Setenv("NUAGE_PASSWORD", "benchmark password")
	b.Setenv("NUAGE_TOKEN", "")
	src := filepath.Join(dir, "src")
	data := make([]byte, size)
	for d := range folders {
		for f := range perFolder {
			p := filepath.Join(src, fmt.Sprintf("d%02d", d), fmt.Sprintf("f%03d.txt", f))
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				b.Fatal(err)
			}
			if err := os.WriteFile(p, data, 0o644); err != nil {
				b.Fatal(err)
			}
		}
	}
	nuage := func(args ...string) {
		b.Helper()
		if code := run(context.Background(), args, nil, io.Discard, io.Discard); code != 0 {
			b.Fatalf("nuage %v: exit %d", args, code)
		}
	}
	nuage("signup", "bench@example.org")
	total := int64(folders * perFolder * size)
	i := 0
	b.Run("put-r", func(b *testing.B) {
		b.SetBytes(total)
		for b.Loop() {
			nuage("put", "-q", "-r", src, fmt.Sprintf("/t%d", i))
			i++
		}
	})
	b.Run("get-r", func(b *testing.B) {
		b.SetBytes(total)
		j := 0
		for b.Loop() {
			nuage("get", "-q", "-r", "/t0", filepath.Join(dir, fmt.Sprintf("out%d", j)))
			j++
		}
	})
}

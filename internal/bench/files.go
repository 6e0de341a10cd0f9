package bench

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/nuage-storage/nuage/internal/piece"
)

// writeRandomFile writes size incompressible bytes (from a generator
// seeded with seed) to name, fsyncs it, and returns its BLAKE3-256.
func writeRandomFile(name string, size int64, seed byte) ([32]byte, error) {
	f, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return [32]byte{}, err
	}
	h := piece.NewHasher()
	buf := make([]byte, 1<<20)
	for i := int64(0); i < size; i += int64(len(buf)) {
		b := buf[:min(int64(len(buf)), size-i)]
		fillRandom(b, seed+byte(i>>20))
		h.Write(b)
		if _, err := f.Write(b); err != nil {
			f.Close()
			return [32]byte{}, err
		}
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return [32]byte{}, err
	}
	if err := f.Close(); err != nil {
		return [32]byte{}, err
	}
	return piece.FromHasher(h), nil
}

// hashFile returns the BLAKE3-256 of a file's contents.
func hashFile(name string) ([32]byte, error) {
	f, err := os.Open(name)
	if err != nil {
		return [32]byte{}, err
	}
	defer f.Close()
	h := piece.NewHasher()
	if _, err := io.CopyBuffer(h, f, make([]byte, 1<<20)); err != nil {
		return [32]byte{}, err
	}
	return piece.FromHasher(h), nil
}

// warmFile reads name through, untimed, so that its pages are in the page
// cache when a timed run reads it: every tool's put starts from a cached
// input, as the ceiling assumes (the machine may have evicted pages of a
// file written minutes before: the benchmark machine runs DAMON, which
// pages out memory not touched for a minute).
func warmFile(name string) error {
	f, err := os.Open(name)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = io.CopyBuffer(io.Discard, f, make([]byte, 1<<20))
	return err
}

// writeSmallFiles writes n files of size random bytes under dir, perFolder
// to a folder (dir/d0000/f00000 …), and returns how many folders it made.
func writeSmallFiles(dir string, n, size, perFolder int) (int, error) {
	buf := make([]byte, size)
	folders := 0
	for i := 0; i < n; i++ {
		sub := filepath.Join(dir, fmt.Sprintf("d%04d", i/perFolder))
		if i%perFolder == 0 {
			if err := os.MkdirAll(sub, 0o700); err != nil {
				return 0, err
			}
			folders++
		}
		fillRandom(buf, byte(i))
		buf[0], buf[1], buf[2] = byte(i), byte(i>>8), byte(i>>16) // every file differs
		if err := os.WriteFile(filepath.Join(sub, fmt.Sprintf("f%05d", i)), buf, 0o600); err != nil {
			return 0, err
		}
	}
	return folders, nil
}

// jsonLine is v as one line of JSON.
func jsonLine(v any) ([]byte, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

// formatBytes shows n in binary units ("1.0 GiB", "512 KiB", "100 B").
func formatBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	v := float64(n)
	for _, u := range []string{"KiB", "MiB", "GiB", "TiB", "PiB"} {
		v /= unit
		if v < unit || u == "PiB" {
			if v == float64(int64(v)) {
				return fmt.Sprintf("%d %s", int64(v), u)
			}
			return fmt.Sprintf("%.1f %s", v, u)
		}
	}
	return fmt.Sprintf("%d B", n)
}

// formatSeconds shows a duration in seconds readably ("850 ms", "2.31 s").
func formatSeconds(s float64) string {
	switch {
	case s <= 0:
		return "—"
	case s < 1:
		return fmt.Sprintf("%.0f ms", s*1000)
	case s < 100:
		return fmt.Sprintf("%.2f s", s)
	}
	return fmt.Sprintf("%.0f s", s)
}

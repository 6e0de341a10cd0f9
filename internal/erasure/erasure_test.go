package erasure

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/bits"
	"math/rand/v2"
	"runtime"
	"sync"
	"testing"

	"github.com/klauspost/reedsolomon"
)

// segment returns n deterministic pseudo-random bytes.
func segment(seed uint64, n int) []byte {
	r := rand.New(rand.NewPCG(seed, 0x6e75616765))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// referenceEncoders caches one reedsolomon encoder per scheme: building the
// matrix of a wide scheme is slow, under the race detector especially.
var referenceEncoders sync.Map // [2]int -> reedsolomon.Encoder

// reference encodes data the way docs/spec.md §4 states it: reedsolomon
// New(k, n-k), Split, Encode, with default options.
func reference(t testing.TB, k, n int, data []byte) [][]byte {
	t.Helper()
	v, ok := referenceEncoders.Load([2]int{k, n})
	if !ok {
		enc, err := reedsolomon.New(k, n-k)
		if err != nil {
			t.Fatal(err)
		}
		v, _ = referenceEncoders.LoadOrStore([2]int{k, n}, enc)
	}
	enc := v.(reedsolomon.Encoder)
	shards, err := enc.Split(bytes.Clone(data))
	if err != nil {
		t.Fatal(err)
	}
	if err := enc.Encode(shards); err != nil {
		t.Fatal(err)
	}
	return shards
}

func mustNew(t testing.TB, k, n int) *Coder {
	t.Helper()
	c, err := New(k, n)
	if err != nil {
		t.Fatalf("New(%d, %d): %v", k, n, err)
	}
	return c
}

func TestNew(t *testing.T) {
	tests := []struct {
		k, n int
		ok   bool
	}{
		{1, 2, true},
		{4, 6, true},
		{29, 80, true},
		{1, 256, true},
		{2, 256, true},
		{0, 1, false},
		{0, 0, false},
		{-1, 3, false},
		{1, 1, false},
		{4, 4, false},
		{5, 4, false},
		{1, 257, false},
		{200, 300, false},
	}
	for _, tt := range tests {
		c, err := New(tt.k, tt.n)
		if tt.ok {
			if err != nil {
				t.Errorf("New(%d, %d): %v", tt.k, tt.n, err)
				continue
			}
			if c.K() != tt.k || c.N() != tt.n {
				t.Errorf("New(%d, %d) has K=%d N=%d", tt.k, tt.n, c.K(), c.N())
			}
		} else if !errors.Is(err, ErrBadScheme) {
			t.Errorf("New(%d, %d) = %v, want ErrBadScheme", tt.k, tt.n, err)
		}
	}
}

func TestPieceSize(t *testing.T) {
	tests := []struct {
		k    int
		size int64
		want int64
	}{
		{4, -1, 0},
		{4, 0, 0},
		{4, 1, 1},
		{4, 4, 1},
		{4, 5, 2},
		{4, 8, 2},
		{1, 7, 7},
		{29, 16<<20 + 4096, 578666},
		{29, 29 * 1000, 1000},
		{29, 29*1000 + 1, 1001},
		{3, 1 << 62, 1537228672809129302},
	}
	for _, tt := range tests {
		c := mustNew(t, tt.k, tt.k+1)
		if got := c.PieceSize(tt.size); got != tt.want {
			t.Errorf("(k=%d).PieceSize(%d) = %d, want %d", tt.k, tt.size, got, tt.want)
		}
	}
}

// sizes returns segment sizes worth testing for k: tiny, odd, around
// multiples of k and of the 64-byte SIMD width, and a real segment's shape.
func sizes(k int) []int {
	s := []int{1, 2, 3, 7, 63, 64, 65, 127, 1000, 4097, 65536 + 16, 3*65552 + 11}
	s = append(s, k-1, k, k+1, 2*k, 2*k+1, 64*k-1, 64*k, 64*k+1, 1000*k+17)
	out := s[:0]
	for _, n := range s {
		if n >= 1 {
			out = append(out, n)
		}
	}
	return out
}

var schemes = []struct{ k, n int }{{1, 2}, {1, 3}, {2, 3}, {3, 5}, {4, 6}, {10, 16}, {29, 80}, {100, 256}}

// TestEncodeMatchesSpec checks every piece against the spec's definition
// (reedsolomon Split then Encode) and the round trip through Decode.
func TestEncodeMatchesSpec(t *testing.T) {
	for _, s := range schemes {
		c := mustNew(t, s.k, s.n)
		for _, size := range sizes(s.k) {
			t.Run(fmt.Sprintf("%d-of-%d/%d", s.k, s.n, size), func(t *testing.T) {
				data := segment(uint64(size), size)
				want := reference(t, s.k, s.n, data)
				z := int(c.PieceSize(int64(size)))
				for _, mode := range []string{"Encode", "EncodeInto"} {
					var pieces [][]byte
					var err error
					if mode == "Encode" {
						pieces, err = c.Encode(bytes.Clone(data))
					} else {
						pieces, err = c.EncodeInto(data, make([]byte, s.n*z))
					}
					if err != nil {
						t.Fatalf("%s: %v", mode, err)
					}
					if len(pieces) != s.n {
						t.Fatalf("%s: %d pieces, want %d", mode, len(pieces), s.n)
					}
					for j := range pieces {
						if len(pieces[j]) != z {
							t.Fatalf("%s: piece %d has %d bytes, want %d", mode, j, len(pieces[j]), z)
						}
						if !bytes.Equal(pieces[j], want[j]) {
							t.Fatalf("%s: piece %d differs from reedsolomon Split+Encode", mode, j)
						}
					}
					got, err := c.Decode(pieces, int64(size), nil)
					if err != nil {
						t.Fatalf("%s: Decode: %v", mode, err)
					}
					if !bytes.Equal(got, data) {
						t.Fatalf("%s: Decode returned other bytes", mode)
					}
				}
			})
		}
	}
}

// TestDecodeMissing tries every combination of missing pieces for (4,6)
// (and a few schemes more): up to n-k missing decode, more fail.
func TestDecodeMissing(t *testing.T) {
	for _, s := range []struct{ k, n int }{{4, 6}, {1, 3}, {2, 3}, {3, 7}} {
		c := mustNew(t, s.k, s.n)
		for _, size := range []int{1, s.k, 4*s.k + 3, 1000*s.k + 1} {
			data := segment(uint64(size)*31, size)
			pieces, err := c.Encode(data[:size:size])
			if err != nil {
				t.Fatal(err)
			}
			decodable, failing := 0, 0
			for mask := uint(0); mask < 1<<s.n; mask++ {
				missing := bits.OnesCount(mask)
				have := make([][]byte, s.n)
				for j := range have {
					if mask&(1<<j) == 0 {
						have[j] = pieces[j]
					}
				}
				prefix := []byte("prefix")
				got, err := c.Decode(have, int64(size), prefix)
				if missing <= s.n-s.k {
					decodable++
					if err != nil {
						t.Fatalf("(%d,%d) size %d missing %06b: %v", s.k, s.n, size, mask, err)
					}
					if !bytes.Equal(got[:6], []byte("prefix")) || !bytes.Equal(got[6:], data) {
						t.Fatalf("(%d,%d) size %d missing %06b: wrong bytes", s.k, s.n, size, mask)
					}
				} else {
					failing++
					if !errors.Is(err, ErrTooFewPieces) {
						t.Fatalf("(%d,%d) size %d missing %06b: err = %v, want ErrTooFewPieces", s.k, s.n, size, mask, err)
					}
					if string(got) != "prefix" {
						t.Fatalf("failed Decode changed dst to %q", got)
					}
				}
				for j := range have {
					if mask&(1<<j) != 0 && have[j] != nil {
						t.Fatalf("Decode modified the caller's pieces slice at %d", j)
					}
				}
			}
			if s.k == 4 && s.n == 6 && (decodable != 1+6+15 || failing != 64-22) {
				t.Fatalf("(4,6): %d decodable and %d failing combinations, want 22 and 42", decodable, failing)
			}
		}
	}
}

func TestDecodeRandomSubsets(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, s := range []struct{ k, n, rounds int }{{10, 16, 20}, {29, 80, 10}, {100, 256, 3}} {
		c := mustNew(t, s.k, s.n)
		for range s.rounds {
			size := 1 + r.IntN(20000)
			data := segment(r.Uint64(), size)
			pieces, err := c.Encode(data)
			if err != nil {
				t.Fatal(err)
			}
			have := make([][]byte, s.n)
			for _, j := range r.Perm(s.n)[:s.k] {
				have[j] = pieces[j]
			}
			got, err := c.Decode(have, int64(size), nil)
			if err != nil {
				t.Fatalf("(%d,%d) size %d: %v", s.k, s.n, size, err)
			}
			if !bytes.Equal(got, data) {
				t.Fatalf("(%d,%d) size %d: wrong bytes", s.k, s.n, size)
			}
		}
	}
}

func TestDecodeErrors(t *testing.T) {
	c := mustNew(t, 4, 6)
	data := segment(7, 1001)
	pieces, err := c.Encode(data)
	if err != nil {
		t.Fatal(err)
	}
	z := len(pieces[0])
	with := func(edit func(p [][]byte) [][]byte) [][]byte {
		p := make([][]byte, len(pieces))
		copy(p, pieces)
		return edit(p)
	}
	tests := []struct {
		name   string
		pieces [][]byte
		size   int64
		want   error
	}{
		{"short piece", with(func(p [][]byte) [][]byte { p[2] = p[2][:z-1]; return p }), 1001, ErrBadPiece},
		{"long piece", with(func(p [][]byte) [][]byte { p[5] = append(bytes.Clone(p[5]), 0); return p }), 1001, ErrBadPiece},
		{"short piece while others missing", with(func(p [][]byte) [][]byte { p[0], p[1], p[3] = nil, nil, p[3][:1]; return p }), 1001, ErrBadPiece},
		{"size implies longer pieces", pieces, 1005, ErrBadPiece},
		{"size implies shorter pieces", pieces, 1000, ErrBadPiece},
		{"size far too small", pieces, 1, ErrBadPiece},
		{"too few", with(func(p [][]byte) [][]byte { p[0], p[3], p[4] = nil, nil, nil; return p }), 1001, ErrTooFewPieces},
		{"none", make([][]byte, 6), 1001, ErrTooFewPieces},
		{"empty counts as missing", with(func(p [][]byte) [][]byte { p[0], p[1], p[2] = []byte{}, p[1][:0], nil; return p }), 1001, ErrTooFewPieces},
		{"fewer than n entries", pieces[:5], 1001, ErrBadScheme},
		{"more than n entries", append(with(func(p [][]byte) [][]byte { return p }), pieces[0]), 1001, ErrBadScheme},
		{"zero size", pieces, 0, ErrEmptySegment},
		{"negative size", pieces, -5, ErrEmptySegment},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dst := []byte("keep")
			got, err := c.Decode(tt.pieces, tt.size, dst)
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			if string(got) != "keep" {
				t.Fatalf("failed Decode returned %q, want dst unchanged", got)
			}
		})
	}
	// The exact size round-trips; the neighbouring sizes with the same
	// piece size decode to a prefix or to the padding.
	for _, size := range []int64{1001, 1002, 1004} {
		got, err := c.Decode(pieces, size, nil)
		if err != nil {
			t.Fatalf("size %d: %v", size, err)
		}
		padded := append(bytes.Clone(data), 0, 0, 0)
		if !bytes.Equal(got, padded[:size]) {
			t.Fatalf("size %d: wrong bytes", size)
		}
	}
}

func TestEncodeEmpty(t *testing.T) {
	c := mustNew(t, 4, 6)
	if _, err := c.Encode(nil); !errors.Is(err, ErrEmptySegment) {
		t.Fatalf("Encode(nil) = %v, want ErrEmptySegment", err)
	}
	if _, err := c.EncodeInto([]byte{}, make([]byte, 100)); !errors.Is(err, ErrEmptySegment) {
		t.Fatalf("EncodeInto(empty) = %v, want ErrEmptySegment", err)
	}
}

func TestEncodeIntoShortBuffer(t *testing.T) {
	c := mustNew(t, 4, 6)
	data := segment(3, 1001) // Z = 251
	for _, n := range []int{0, 1, 6*251 - 1} {
		if _, err := c.EncodeInto(data, make([]byte, n)); !errors.Is(err, io.ErrShortBuffer) {
			t.Errorf("buffer of %d: err = %v, want io.ErrShortBuffer", n, err)
		}
	}
	buf := make([]byte, 6*251+100)
	for i := range buf {
		buf[i] = 0xee
	}
	pieces, err := c.EncodeInto(data, buf)
	if err != nil {
		t.Fatal(err)
	}
	if &pieces[0][0] != &buf[0] || &pieces[5][250] != &buf[6*251-1] {
		t.Fatal("pieces are not laid out consecutively in buf")
	}
	for i, b := range buf[6*251:] {
		if b != 0xee {
			t.Fatalf("EncodeInto wrote past n*Z at %d", 6*251+i)
		}
	}
	for j := range pieces {
		if cap(pieces[j]) != 251 {
			t.Fatalf("piece %d has capacity %d; appending to it would overwrite the next", j, cap(pieces[j]))
		}
	}
}

// TestEncodeIntoInPlace encodes a segment that already sits at the start of
// the buffer, and one that overlaps it at an offset.
func TestEncodeIntoInPlace(t *testing.T) {
	c := mustNew(t, 4, 6)
	data := segment(11, 4001)
	want := reference(t, 4, 6, data)
	z := len(want[0])

	buf := make([]byte, 6*z)
	for i := range buf {
		buf[i] = 0xaa // garbage the padding must overwrite
	}
	copy(buf, data)
	pieces, err := c.EncodeInto(buf[:len(data)], buf)
	if err != nil {
		t.Fatal(err)
	}
	for j := range want {
		if !bytes.Equal(pieces[j], want[j]) {
			t.Fatalf("in place: piece %d differs", j)
		}
	}

	buf = make([]byte, 6*z+10)
	copy(buf[10:], data)
	pieces, err = c.EncodeInto(buf[10:10+len(data)], buf)
	if err != nil {
		t.Fatal(err)
	}
	for j := range want {
		if !bytes.Equal(pieces[j], want[j]) {
			t.Fatalf("overlapping: piece %d differs", j)
		}
	}
}

// TestEncodeAliasing checks the memory contract of Encode: what it may
// reuse, and that a full slice expression protects bytes past len.
func TestEncodeAliasing(t *testing.T) {
	c := mustNew(t, 4, 6)
	const l = 1001 // Z = 251, k*Z = 1004, n*Z = 1506
	data := segment(5, l)
	want := reference(t, 4, 6, data)
	check := func(t *testing.T, pieces [][]byte) {
		t.Helper()
		for j := range want {
			if !bytes.Equal(pieces[j], want[j]) {
				t.Fatalf("piece %d differs", j)
			}
			if cap(pieces[j]) != 251 {
				t.Fatalf("piece %d has capacity %d", j, cap(pieces[j]))
			}
		}
	}
	fill := func(n int) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = 0xee
		}
		copy(b, data)
		return b
	}

	t.Run("capacity for all pieces", func(t *testing.T) {
		buf := fill(1506)
		pieces, err := c.Encode(buf[:l])
		if err != nil {
			t.Fatal(err)
		}
		check(t, pieces)
		if &pieces[0][0] != &buf[0] || &pieces[5][0] != &buf[5*251] {
			t.Fatal("pieces do not reuse the segment's capacity")
		}
	})
	t.Run("capacity for data pieces and one parity piece", func(t *testing.T) {
		buf := fill(1300) // 5 whole pieces
		pieces, err := c.Encode(buf[:l])
		if err != nil {
			t.Fatal(err)
		}
		check(t, pieces)
		if &pieces[3][0] != &buf[3*251] || &pieces[4][0] != &buf[4*251] {
			t.Fatal("pieces do not alias the segment's capacity")
		}
		for i, b := range buf[1255:] {
			if b != 0xee {
				t.Fatalf("Encode wrote at %d, past the last whole piece", 1255+i)
			}
		}
	})
	t.Run("full slice expression", func(t *testing.T) {
		buf := fill(2000)
		pieces, err := c.Encode(buf[:l:l])
		if err != nil {
			t.Fatal(err)
		}
		check(t, pieces)
		if !bytes.Equal(buf[:l], data) {
			t.Fatal("Encode changed the segment")
		}
		for i, b := range buf[l:] {
			if b != 0xee {
				t.Fatalf("Encode wrote past len(segment) at %d despite cap = len", l+i)
			}
		}
		if &pieces[2][0] != &buf[2*251] {
			t.Fatal("full data pieces are copied instead of aliased")
		}
	})
}

// bytesPerRun returns the average heap bytes f allocates.
func bytesPerRun(runs int, f func()) uint64 {
	f() // warm up pools and caches
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for range runs {
		f()
	}
	runtime.ReadMemStats(&after)
	return (after.TotalAlloc - before.TotalAlloc) / uint64(runs)
}

// TestNoSegmentCopies checks that the hot paths never allocate anything the
// size of a piece: only headers and reedsolomon's small bookkeeping.
func TestNoSegmentCopies(t *testing.T) {
	const limit = 64 << 10 // a (29,80) piece of this segment is 145 KiB
	for _, s := range []struct{ k, n int }{{4, 6}, {29, 80}} {
		c := mustNew(t, s.k, s.n)
		data := segment(13, 4<<20+4096)
		z := int(c.PieceSize(int64(len(data))))
		buf := make([]byte, s.n*z)
		if got := bytesPerRun(3, func() {
			if _, err := c.EncodeInto(data, buf); err != nil {
				t.Fatal(err)
			}
		}); got > limit {
			t.Errorf("(%d,%d) EncodeInto allocates %d bytes per segment", s.k, s.n, got)
		}
		seg := make([]byte, len(data), s.n*z)
		if got := bytesPerRun(3, func() {
			copy(seg, data)
			if _, err := c.Encode(seg); err != nil {
				t.Fatal(err)
			}
		}); got > limit {
			t.Errorf("(%d,%d) Encode with capacity for all pieces allocates %d bytes per segment", s.k, s.n, got)
		}
		pieces, err := c.EncodeInto(data, buf)
		if err != nil {
			t.Fatal(err)
		}
		lost := make([][]byte, s.n)
		copy(lost, pieces)
		for j := range min(s.k, s.n-s.k) {
			lost[j] = nil
		}
		dst := make([]byte, 0, s.k*z)
		if got := bytesPerRun(3, func() {
			if _, err := c.Decode(lost, int64(len(data)), dst); err != nil {
				t.Fatal(err)
			}
		}); got > limit {
			t.Errorf("(%d,%d) Decode with reconstruction allocates %d bytes per segment", s.k, s.n, got)
		}
	}
}

func TestDecodeIntoSpareCapacity(t *testing.T) {
	c := mustNew(t, 4, 6)
	data := segment(9, 10007)
	pieces, err := c.Encode(data[:len(data):len(data)])
	if err != nil {
		t.Fatal(err)
	}
	have := [][]byte{nil, pieces[1], nil, pieces[3], pieces[4], pieces[5]}
	dst := make([]byte, 3, 3+4*len(pieces[0]))
	copy(dst, "abc")
	allocs := testing.AllocsPerRun(10, func() {
		got, err := c.Decode(have, int64(len(data)), dst)
		if err != nil {
			t.Fatal(err)
		}
		if &got[0] != &dst[0] || string(got[:3]) != "abc" || !bytes.Equal(got[3:], data) {
			t.Fatal("Decode did not append in place")
		}
	})
	// The piece headers and reedsolomon's own bookkeeping; never a segment.
	if allocs > 12 {
		t.Fatalf("Decode made %v allocations", allocs)
	}
	allocs = testing.AllocsPerRun(10, func() {
		if _, err := c.Decode(pieces, int64(len(data)), dst); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Fatalf("Decode with every data piece made %v allocations, want 0", allocs)
	}
}

func TestConcurrent(t *testing.T) {
	c := mustNew(t, 29, 80)
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(g), 0))
			for range 5 {
				data := segment(r.Uint64(), 1+r.IntN(50000))
				pieces, err := c.Encode(data)
				if err != nil {
					errs <- err
					return
				}
				have := make([][]byte, 80)
				for _, j := range r.Perm(80)[:29] {
					have[j] = pieces[j]
				}
				got, err := c.Decode(have, int64(len(data)), nil)
				if err != nil {
					errs <- err
					return
				}
				if !bytes.Equal(got, data) {
					errs <- errors.New("concurrent round trip returned other bytes")
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

// FuzzDecode feeds Decode attacker-shaped piece sets: pieces dropped,
// truncated, extended or corrupted, and sizes that disagree with them. It
// must never panic, must succeed exactly when k pieces of the right length
// are present, and must return the segment when the pieces are genuine.
func FuzzDecode(f *testing.F) {
	f.Add([]byte("hello, nuage"), uint8(4), uint8(6), uint64(0), uint8(0), int16(0), uint8(0))
	f.Add([]byte{1}, uint8(1), uint8(2), uint64(1), uint8(0), int16(0), uint8(0))
	f.Add(bytes.Repeat([]byte{7}, 300), uint8(29), uint8(80), uint64(0xffff_ffff_ffff), uint8(3), int16(-1), uint8(0))
	f.Add([]byte("abcdefgh"), uint8(3), uint8(5), uint64(0b10), uint8(4), int16(2), uint8(1))
	f.Add([]byte("abcdefgh"), uint8(3), uint8(5), uint64(0b111), uint8(0), int16(0), uint8(9))
	f.Fuzz(func(t *testing.T, data []byte, k, n uint8, missing uint64, victim uint8, resize int16, flip uint8) {
		c, err := New(int(k), int(n))
		if err != nil {
			if !errors.Is(err, ErrBadScheme) {
				t.Fatalf("New(%d, %d): %v", k, n, err)
			}
			return
		}
		if len(data) == 0 {
			if _, err := c.Encode(data); !errors.Is(err, ErrEmptySegment) {
				t.Fatalf("Encode(empty) = %v", err)
			}
			return
		}
		pieces, err := c.Encode(data[:len(data):len(data)])
		if err != nil {
			t.Fatal(err)
		}
		z := len(pieces[0])
		have := make([][]byte, c.N())
		present := 0
		for j := range have {
			if j >= 64 || missing&(1<<j) == 0 {
				have[j] = pieces[j]
				present++
			}
		}
		size := int64(len(data))
		badLength := false
		if v := int(victim) % c.N(); have[v] != nil && resize != 0 {
			// Change one present piece's length.
			nl := max(0, min(z+int(resize), 4*z+8))
			p := make([]byte, nl)
			copy(p, have[v])
			have[v] = p
			switch {
			case nl == 0:
				present--
			case nl != z:
				badLength = true
			}
		}
		corrupted := false
		if flip != 0 {
			v := int(flip) % c.N()
			if have[v] != nil && len(have[v]) > 0 {
				p := bytes.Clone(have[v])
				p[int(flip)%len(p)] ^= flip
				have[v] = p
				corrupted = true
			}
		}
		got, err := c.Decode(have, size, []byte("x"))
		switch {
		case badLength:
			if !errors.Is(err, ErrBadPiece) {
				t.Fatalf("Decode with a piece of the wrong length: %v", err)
			}
		case present < c.K():
			if !errors.Is(err, ErrTooFewPieces) {
				t.Fatalf("Decode with %d of %d pieces: %v", present, c.K(), err)
			}
		case err != nil:
			t.Fatalf("Decode with %d pieces: %v", present, err)
		case len(got) != 1+len(data) || got[0] != 'x':
			t.Fatalf("Decode returned %d bytes, want 1+%d", len(got), len(data))
		case !corrupted && !bytes.Equal(got[1:], data):
			t.Fatal("Decode of genuine pieces returned other bytes")
		}
	})
}

// ciphertextSegment is the ciphertext length of a full 16 MiB plaintext
// segment: 256 blocks of 64 KiB, each with a 16-byte tag (spec §3).
const ciphertextSegment = 16<<20 + 256*16

var benchSchemes = []struct{ k, n int }{{4, 6}, {29, 80}}

func BenchmarkEncode(b *testing.B) {
	for _, s := range benchSchemes {
		c := mustNew(b, s.k, s.n)
		data := segment(1, ciphertextSegment)
		z := int(c.PieceSize(ciphertextSegment))
		b.Run(fmt.Sprintf("%d-of-%d/EncodeInto", s.k, s.n), func(b *testing.B) {
			buf := make([]byte, s.n*z)
			b.SetBytes(ciphertextSegment)
			b.ReportAllocs()
			for b.Loop() {
				if _, err := c.EncodeInto(data, buf); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(fmt.Sprintf("%d-of-%d/Encode", s.k, s.n), func(b *testing.B) {
			b.SetBytes(ciphertextSegment)
			b.ReportAllocs()
			for b.Loop() {
				if _, err := c.Encode(data[:len(data):len(data)]); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkDecode(b *testing.B) {
	for _, s := range benchSchemes {
		c := mustNew(b, s.k, s.n)
		data := segment(2, ciphertextSegment)
		pieces, err := c.Encode(data[:len(data):len(data)])
		if err != nil {
			b.Fatal(err)
		}
		dst := make([]byte, 0, s.k*len(pieces[0]))
		// Worst case: as many data pieces missing as parity can replace.
		lost := make([][]byte, s.n)
		copy(lost, pieces)
		for j := range min(s.n-s.k, s.k) {
			lost[j] = nil
		}
		for _, tc := range []struct {
			name   string
			pieces [][]byte
		}{{"data", pieces}, {"reconstruct", lost}} {
			b.Run(fmt.Sprintf("%d-of-%d/%s", s.k, s.n, tc.name), func(b *testing.B) {
				b.SetBytes(ciphertextSegment)
				b.ReportAllocs()
				for b.Loop() {
					if _, err := c.Decode(tc.pieces, ciphertextSegment, dst); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// TestDecodePiecesInPlace: data pieces fetched straight into their places
// in the output are used there, and the missing ones rebuilt beside them.
func TestDecodePiecesInPlace(t *testing.T) {
	c := mustNew(t, 4, 6)
	for _, size := range []int{10007, 4 * 4096, 3*4096 + 1} {
		data := segment(11, size)
		pieces, err := c.Encode(data[:len(data):len(data)])
		if err != nil {
			t.Fatal(err)
		}
		z := len(pieces[0])
		for missing := range 4 { // each data piece missing in turn, and none (4)
			for _, present := range [][]int{{0, 1, 2, 3}, {0, 1, 2, 3, 4, 5}} {
				out := make([]byte, 4*z)
				have := make([][]byte, 6)
				for _, j := range present {
					if j == missing {
						continue
					}
					if j < 4 {
						have[j] = out[j*z : (j+1)*z]
						copy(have[j], pieces[j])
					} else {
						have[j] = pieces[j]
					}
				}
				if missing < 4 && len(present) == 4 {
					have[4] = pieces[4] // k pieces: one parity stands in
				}
				// Garbage where the missing piece goes, as a failed fetch leaves.
				if missing < 4 {
					for i := range out[missing*z : (missing+1)*z] {
						out[missing*z+i] = 0xAA
					}
				}
				got, err := c.Decode(have, int64(size), out[:0])
				if err != nil {
					t.Fatalf("size %d, missing %d: %v", size, missing, err)
				}
				if !bytes.Equal(got, data) {
					t.Fatalf("size %d, missing %d, present %v: wrong segment", size, missing, present)
				}
			}
		}
	}
}

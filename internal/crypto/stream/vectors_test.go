package stream

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"
)

var update = flag.Bool("update", false, "regenerate the test vector files under testdata/")

var vectorFile = filepath.Join("..", "..", "..", "testdata", "stream", "vectors.json")

// hexBytes is a []byte written as lowercase hex in JSON.
type hexBytes []byte

func (h hexBytes) MarshalText() ([]byte, error) { return []byte(hex.EncodeToString(h)), nil }

func (h *hexBytes) UnmarshalText(b []byte) error {
	d, err := hex.DecodeString(string(b))
	*h = d
	return err
}

type streamVectors struct {
	Comment        []string        `json:"comment"`
	Streams        []streamVector  `json:"streams"`
	Layouts        []layoutVector  `json:"layouts"`
	LayoutFailures []layoutFailure `json:"layout_failures"`
	Failures       []streamFailure `json:"failures"`
}

type streamVector struct {
	Name             string          `json:"name"`
	Size             int64           `json:"size"`
	Segment          int64           `json:"segment"`
	Key              hexBytes        `json:"key"`
	Object           hexBytes        `json:"object"`
	StreamKey        hexBytes        `json:"stream_key"`
	CiphertextSize   int64           `json:"ciphertext_size"`
	Ciphertext       hexBytes        `json:"ciphertext,omitempty"`
	CiphertextSHA256 hexBytes        `json:"ciphertext_sha256"`
	Segments         []segmentVector `json:"segments"`
}

type segmentVector struct {
	Index            int      `json:"index"`
	PlainOffset      int64    `json:"plain_offset"`
	PlainSize        int64    `json:"plain_size"`
	FirstBlock       int64    `json:"first_block"`
	CipherOffset     int64    `json:"cipher_offset"`
	CipherSize       int64    `json:"cipher_size"`
	CiphertextSHA256 hexBytes `json:"ciphertext_sha256,omitempty"`
}

type layoutVector struct {
	Size           int64         `json:"size"`
	Segment        int64         `json:"segment"`
	Blocks         int64         `json:"blocks"`
	Segments       int           `json:"segments"`
	CiphertextSize int64         `json:"ciphertext_size"`
	LastSegment    segmentVector `json:"last_segment"`
}

type layoutFailure struct {
	Size    int64  `json:"size"`
	Segment int64  `json:"segment"`
	Error   string `json:"error"`
}

type blockRef struct {
	Stream string `json:"stream"`
	Block  int64  `json:"block"`
}

type bitFlip struct {
	Offset int  `json:"offset"`
	Mask   byte `json:"mask"`
}

type streamFailure struct {
	Name             string     `json:"name"`
	Size             int64      `json:"size"`
	Segment          int64      `json:"segment"`
	Key              hexBytes   `json:"key"`
	Object           hexBytes   `json:"object"`
	Blocks           []blockRef `json:"blocks"`
	Cut              int        `json:"cut,omitempty"`
	Append           hexBytes   `json:"append,omitempty"`
	Flip             *bitFlip   `json:"flip,omitempty"`
	CiphertextSHA256 hexBytes   `json:"ciphertext_sha256"`
	Error            string     `json:"error"`
}

var errorNames = map[string]error{
	"ErrAuth":      ErrAuth,
	"ErrTruncated": ErrTruncated,
	"ErrTooLong":   ErrTooLong,
	"ErrBadLayout": ErrBadLayout,
}

func vecMaterial(label string, n int) []byte {
	h := sha256.Sum256([]byte("nuage test vector: " + label))
	return bytes.Clone(h[:n])
}

var (
	vecKey      = [32]byte(vecMaterial("content key", 32))
	vecObject   = [16]byte(vecMaterial("object id", 16))
	vecOtherKey = [32]byte(vecMaterial("other content key", 32))
	vecOtherObj = [16]byte(vecMaterial("other object id", 16))
)

// sealStream returns the ciphertext of pattern(size) under key and object.
func sealStream(t testing.TB, key [32]byte, object [16]byte, size, seg int64) (*Cipher, []byte) {
	t.Helper()
	l, err := NewLayout(size, seg)
	if err != nil {
		t.Fatal(err)
	}
	c, err := NewCipher(key, object, l)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	w := NewWriter(c, &buf)
	if _, err := w.Write(pattern(size)); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return c, buf.Bytes()
}

func segVec(l Layout, s int, ct []byte) segmentVector {
	off, n := l.SegmentPlain(s)
	v := segmentVector{Index: s, PlainOffset: off, PlainSize: n, FirstBlock: l.SegmentFirstBlock(s),
		CipherOffset: l.SegmentCipherOffset(s), CipherSize: l.SegmentCipherSize(s)}
	if ct != nil {
		sum := sha256.Sum256(ct[v.CipherOffset : v.CipherOffset+v.CipherSize])
		v.CiphertextSHA256 = sum[:]
	}
	return v
}

// assemble builds a failure's ciphertext from blocks of the named streams.
func assemble(t testing.TB, streams map[string]streamVector, f streamFailure) []byte {
	t.Helper()
	var out []byte
	for _, ref := range f.Blocks {
		sv, ok := streams[ref.Stream]
		if !ok {
			t.Fatalf("failure %q: unknown stream %q", f.Name, ref.Stream)
		}
		c, ct := sealStream(t, [32]byte(sv.Key), [16]byte(sv.Object), sv.Size, sv.Segment)
		l := c.Layout()
		if ref.Block < 0 || ref.Block >= l.Blocks() {
			t.Fatalf("failure %q: stream %q has no block %d", f.Name, ref.Stream, ref.Block)
		}
		out = append(out, ct[l.BlockCipherOffset(ref.Block):min(l.BlockCipherOffset(ref.Block+1), int64(len(ct)))]...)
	}
	if f.Cut > len(out) {
		t.Fatalf("failure %q: cut %d of %d bytes", f.Name, f.Cut, len(out))
	}
	out = append(out[:len(out)-f.Cut], f.Append...)
	if f.Flip != nil {
		if f.Flip.Offset >= len(out) {
			t.Fatalf("failure %q: flip outside the stream", f.Name)
		}
		out[f.Flip.Offset] ^= f.Flip.Mask
	}
	return out
}

// generateStreamVectors builds the vector file. Expected errors are written
// by hand, not computed, so TestStreamVectors checks the code against them.
func generateStreamVectors(t *testing.T) streamVectors {
	v := streamVectors{Comment: []string{
		"nuage v1 content stream vectors (docs/spec.md §3). Hex is lowercase.",
		"Plaintext: byte j of every stream's plaintext is j mod 251.",
		"stream_key = HKDF-SHA-256(ikm=key, salt=object, info=\"nuage v1 content\"); block i = AES-256-GCM(stream_key, uint88_be(i) || last, P_i, ad empty).",
		"segments/layouts: offsets and sizes in bytes; first_block is the segment's first block index; cipher_offset = first_block * 65552.",
		"failures: the ciphertext is the concatenation of the listed blocks of the named streams, minus cut bytes at the end, plus append, with flip applied (mask XORed at offset); ciphertext_sha256 is of that result.",
		"A reader told size and segment (and key, object) must fail with error: ErrAuth (a block did not authenticate), ErrTruncated (stream too short), ErrTooLong (stream too long), ErrBadLayout (invalid layout).",
	}}
	key, obj := vecKey[:], vecObject[:]
	specs := []struct {
		name      string
		size, seg int64
		key       [32]byte
		obj       [16]byte
	}{
		{"1 byte", 1, B, vecKey, vecObject},
		{"100 bytes", 100, DefaultSegmentSize, vecKey, vecObject},
		{"65535 bytes", B - 1, B, vecKey, vecObject},
		{"65536 bytes", B, B, vecKey, vecObject},
		{"65537 bytes", B + 1, B, vecKey, vecObject},
		{"3 blocks, 1-block segments", 3 * B, B, vecKey, vecObject},
		{"3 blocks + 5 bytes, 2-block segments", 3*B + 5, 2 * B, vecKey, vecObject},
		{"3 blocks, other object", 3 * B, B, vecKey, vecOtherObj},
	}
	for _, s := range specs {
		c, ct := sealStream(t, s.key, s.obj, s.size, s.seg)
		l := c.Layout()
		sk := StreamKey(s.key, s.obj)
		sum := sha256.Sum256(ct)
		sv := streamVector{Name: s.name, Size: s.size, Segment: s.seg, Key: bytes.Clone(s.key[:]), Object: bytes.Clone(s.obj[:]),
			StreamKey: sk[:], CiphertextSize: l.CiphertextSize(), CiphertextSHA256: sum[:]}
		if len(ct) <= 256 {
			sv.Ciphertext = ct
		}
		for i := 0; i < l.Segments(); i++ {
			sv.Segments = append(sv.Segments, segVec(l, i, ct))
		}
		v.Streams = append(v.Streams, sv)
	}
	for _, ls := range []struct{ size, seg int64 }{
		{1, DefaultSegmentSize},
		{DefaultSegmentSize, DefaultSegmentSize},
		{DefaultSegmentSize + 1, DefaultSegmentSize},
		{1<<30 + 5, DefaultSegmentSize},
		{5<<40 + 3, 64 << 20},
		{MaxSize, 1 << 40},
	} {
		l, err := NewLayout(ls.size, ls.seg)
		if err != nil {
			t.Fatal(err)
		}
		v.Layouts = append(v.Layouts, layoutVector{ls.size, ls.seg, l.Blocks(), l.Segments(), l.CiphertextSize(), segVec(l, l.Segments()-1, nil)})
	}
	v.LayoutFailures = []layoutFailure{
		{0, B, "ErrBadLayout"},
		{-1, B, "ErrBadLayout"},
		{1, 0, "ErrBadLayout"},
		{1, B + 1, "ErrBadLayout"},
		{1, 100000, "ErrBadLayout"},
		{MaxSize + 1, 1 << 40, "ErrBadLayout"},
	}

	a, o, one := "3 blocks, 1-block segments", "3 blocks, other object", "65536 bytes"
	refs := func(stream string, blocks ...int64) []blockRef {
		r := make([]blockRef, len(blocks))
		for i, b := range blocks {
			r[i] = blockRef{stream, b}
		}
		return r
	}
	const size, seg = 3 * B, B
	v.Failures = []streamFailure{
		{Name: "wrong key", Size: size, Segment: seg, Key: vecOtherKey[:], Object: obj, Blocks: refs(a, 0, 1, 2), Error: "ErrAuth"},
		{Name: "wrong object", Size: size, Segment: seg, Key: key, Object: vecOtherObj[:], Blocks: refs(a, 0, 1, 2), Error: "ErrAuth"},
		{Name: "empty stream", Size: size, Segment: seg, Key: key, Object: obj, Error: "ErrTruncated"},
		{Name: "truncated: last block dropped", Size: size, Segment: seg, Key: key, Object: obj, Blocks: refs(a, 0, 1), Error: "ErrTruncated"},
		{Name: "truncated inside the last block", Size: size, Segment: seg, Key: key, Object: obj, Blocks: refs(a, 0, 1, 2), Cut: 1, Error: "ErrTruncated"},
		{Name: "block swapped with another object's", Size: size, Segment: seg, Key: key, Object: obj,
			Blocks: []blockRef{{a, 0}, {o, 1}, {a, 2}}, Error: "ErrAuth"},
		{Name: "blocks reordered", Size: size, Segment: seg, Key: key, Object: obj, Blocks: refs(a, 1, 0, 2), Error: "ErrAuth"},
		{Name: "last flag missing: truncated at a block boundary, read with the shorter size", Size: 2 * B, Segment: seg, Key: key, Object: obj,
			Blocks: refs(a, 0, 1), Error: "ErrAuth"},
		{Name: "final block (last flag set) in a non-final position", Size: size, Segment: seg, Key: key, Object: obj,
			Blocks: []blockRef{{one, 0}, {a, 1}, {a, 2}}, Error: "ErrAuth"},
		{Name: "extra trailing block", Size: size, Segment: seg, Key: key, Object: obj, Blocks: refs(a, 0, 1, 2, 2), Error: "ErrTooLong"},
		{Name: "one extra byte", Size: size, Segment: seg, Key: key, Object: obj, Blocks: refs(a, 0, 1, 2), Append: []byte{0}, Error: "ErrTooLong"},
		{Name: "flipped ciphertext bit in block 1", Size: size, Segment: seg, Key: key, Object: obj, Blocks: refs(a, 0, 1, 2),
			Flip: &bitFlip{B + Overhead + 100, 0x01}, Error: "ErrAuth"},
		{Name: "flipped tag bit of the final block", Size: size, Segment: seg, Key: key, Object: obj, Blocks: refs(a, 0, 1, 2),
			Flip: &bitFlip{3*(B+Overhead) - 1, 0x80}, Error: "ErrAuth"},
		{Name: "1-byte stream with a flipped bit", Size: 1, Segment: seg, Key: key, Object: obj, Blocks: refs("1 byte", 0),
			Flip: &bitFlip{0, 0x01}, Error: "ErrAuth"},
	}
	streams := make(map[string]streamVector)
	for _, s := range v.Streams {
		streams[s.Name] = s
	}
	for i := range v.Failures {
		sum := sha256.Sum256(assemble(t, streams, v.Failures[i]))
		v.Failures[i].CiphertextSHA256 = sum[:]
	}
	return v
}

func TestStreamVectors(t *testing.T) {
	if *update {
		b, err := json.MarshalIndent(generateStreamVectors(t), "", "  ")
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(vectorFile, append(b, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	raw, err := os.ReadFile(vectorFile)
	if err != nil {
		t.Fatal(err)
	}
	var v streamVectors
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&v); err != nil {
		t.Fatal(err)
	}
	if len(v.Streams) == 0 || len(v.Layouts) == 0 || len(v.LayoutFailures) == 0 || len(v.Failures) == 0 {
		t.Fatal("a vector section is empty")
	}
	wantErr := func(t *testing.T, err error, name string) {
		t.Helper()
		want, ok := errorNames[name]
		if !ok {
			t.Fatalf("unknown error name %q", name)
		}
		if !errors.Is(err, want) {
			t.Fatalf("got %v, want %s", err, name)
		}
	}
	for _, sv := range v.Streams {
		if len(sv.Key) != 32 || len(sv.Object) != 16 {
			t.Fatalf("stream %q: key or object of the wrong length", sv.Name)
		}
	}
	for _, f := range v.Failures {
		if len(f.Key) != 32 || len(f.Object) != 16 {
			t.Fatalf("failure %q: key or object of the wrong length", f.Name)
		}
	}
	streams := make(map[string]streamVector)
	for _, sv := range v.Streams {
		streams[sv.Name] = sv
		t.Run(sv.Name, func(t *testing.T) {
			if sk := StreamKey([32]byte(sv.Key), [16]byte(sv.Object)); !bytes.Equal(sk[:], sv.StreamKey) {
				t.Fatal("stream key differs")
			}
			c, ct := sealStream(t, [32]byte(sv.Key), [16]byte(sv.Object), sv.Size, sv.Segment)
			l := c.Layout()
			if sum := sha256.Sum256(ct); !bytes.Equal(sum[:], sv.CiphertextSHA256) || int64(len(ct)) != sv.CiphertextSize || l.CiphertextSize() != sv.CiphertextSize {
				t.Fatal("ciphertext differs")
			}
			if sv.Ciphertext != nil && !bytes.Equal(ct, sv.Ciphertext) {
				t.Fatal("ciphertext differs")
			}
			if len(sv.Segments) != l.Segments() {
				t.Fatalf("%d segments, want %d", l.Segments(), len(sv.Segments))
			}
			p := pattern(sv.Size)
			for _, sg := range sv.Segments {
				if got := segVec(l, sg.Index, ct); fmt.Sprint(got) != fmt.Sprint(sg) {
					t.Fatalf("segment %d: %+v, want %+v", sg.Index, got, sg)
				}
				seal, err := c.SealSegment(nil, sg.Index, p[sg.PlainOffset:sg.PlainOffset+sg.PlainSize])
				if err != nil {
					t.Fatal(err)
				}
				if sum := sha256.Sum256(seal); !bytes.Equal(sum[:], sg.CiphertextSHA256) {
					t.Fatalf("segment %d ciphertext differs", sg.Index)
				}
				pt, err := c.OpenSegment(nil, sg.Index, seal)
				if err != nil || !bytes.Equal(pt, p[sg.PlainOffset:sg.PlainOffset+sg.PlainSize]) {
					t.Fatalf("segment %d does not open: %v", sg.Index, err)
				}
				checkOpenInPlace(t, c, sg.Index, seal, p[sg.PlainOffset:sg.PlainOffset+sg.PlainSize])
			}
			got, err := io.ReadAll(NewReader(c, bytes.NewReader(ct)))
			if err != nil || !bytes.Equal(got, p) {
				t.Fatalf("stream does not read back: %v", err)
			}
		})
	}
	for _, lv := range v.Layouts {
		l, err := NewLayout(lv.Size, lv.Segment)
		if err != nil {
			t.Fatalf("layout %d/%d: %v", lv.Size, lv.Segment, err)
		}
		if l.Blocks() != lv.Blocks || l.Segments() != lv.Segments || l.CiphertextSize() != lv.CiphertextSize ||
			fmt.Sprint(segVec(l, lv.Segments-1, nil)) != fmt.Sprint(lv.LastSegment) {
			t.Errorf("layout %d/%d differs", lv.Size, lv.Segment)
		}
	}
	for _, lf := range v.LayoutFailures {
		_, err := NewLayout(lf.Size, lf.Segment)
		t.Run(fmt.Sprintf("layout %d/%d", lf.Size, lf.Segment), func(t *testing.T) { wantErr(t, err, lf.Error) })
	}
	for _, f := range v.Failures {
		t.Run(f.Name, func(t *testing.T) {
			ct := assemble(t, streams, f)
			if sum := sha256.Sum256(ct); !bytes.Equal(sum[:], f.CiphertextSHA256) {
				t.Fatal("assembled ciphertext differs")
			}
			l, err := NewLayout(f.Size, f.Segment)
			if err != nil {
				t.Fatal(err)
			}
			c, err := NewCipher([32]byte(f.Key), [16]byte(f.Object), l)
			if err != nil {
				t.Fatal(err)
			}
			got, err := io.ReadAll(NewReader(c, bytes.NewReader(ct)))
			wantErr(t, err, f.Error)
			if int64(len(got)) >= f.Size {
				t.Fatal("the whole plaintext was released despite the error")
			}
			if l.Segments() == 1 {
				// Opening the whole segment in place rejects it too and
				// leaves no plaintext behind.
				buf := bytes.Clone(ct)
				out, err := openSegmentInPlace(c, 0, buf)
				if err == nil || out != nil || !knownError(err) {
					t.Fatalf("OpenSegmentInPlace = %d bytes, %v", len(out), err)
				}
				if !bytes.Equal(buf, ct) && !bytes.Equal(buf, make([]byte, len(buf))) {
					t.Fatal("OpenSegmentInPlace left plaintext in the buffer")
				}
			}
		})
	}

	gen, err := json.MarshalIndent(generateStreamVectors(t), "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(append(gen, '\n'), raw) {
		t.Fatalf("%s differs from the generator; rerun with -update if the change is intended", vectorFile)
	}
}

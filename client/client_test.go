package client_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nuage-storage/nuage/client"
	"github.com/nuage-storage/nuage/internal/testnet"
)

func randBytes(t testing.TB, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

func ctxT(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func put(t testing.TB, c *client.Client, p string, data []byte) client.Entry {
	t.Helper()
	e, err := c.Put(ctxT(t), p, bytes.NewReader(data), int64(len(data)), nil)
	if err != nil {
		t.Fatalf("put %s (%d bytes): %v", p, len(data), err)
	}
	return e
}

func get(t testing.TB, c *client.Client, p string) []byte {
	t.Helper()
	var buf bytes.Buffer
	if _, err := c.Get(ctxT(t), p, &buf, nil); err != nil {
		t.Fatalf("get %s: %v", p, err)
	}
	return buf.Bytes()
}

func TestRoundTripSizes(t *testing.T) {
	net := testnet.New(t, testnet.Options{})
	c := net.Signup(t)
	const seg = 256 << 10 // testnet segment size
	sizes := []int{0, 1, 100, 4096, 4097, 65535, 65536, 65537, 3*65536 + 5, seg - 1, seg, seg + 1, 4*seg + 12345}
	for _, n := range sizes {
		data := randBytes(t, n)
		p := "/f" + strings.Repeat("x", n%7) + "-" + strconv.Itoa(n)
		e := put(t, c, p, data)
		if e.Size != int64(n) {
			t.Errorf("size %d: entry says %d", n, e.Size)
		}
		if wantInline := n <= 4096; e.Inline != wantInline {
			t.Errorf("size %d: inline=%v, want %v", n, e.Inline, wantInline)
		}
		if got := get(t, c, p); !bytes.Equal(got, data) {
			t.Fatalf("size %d: round trip differs (got %d bytes)", n, len(got))
		}
	}
	es, err := c.List(ctxT(t), "/")
	if err != nil {
		t.Fatal(err)
	}
	if len(es) != len(sizes) {
		t.Errorf("ls / lists %d entries, want %d", len(es), len(sizes))
	}
}

func TestRangeReads(t *testing.T) {
	net := testnet.New(t, testnet.Options{})
	c := net.Signup(t)
	data := randBytes(t, 3*(256<<10)+77777)
	put(t, c, "/big", data)
	small := randBytes(t, 3000)
	put(t, c, "/small", small)
	cases := []struct{ off, n int64 }{
		{0, 1}, {0, 65536}, {65535, 2}, {65536, 65536}, {100, 300000},
		{256<<10 - 10, 20}, {256 << 10, 256 << 10}, {int64(len(data)) - 1, 1},
		{int64(len(data)) - 70000, -1}, {12345, 0}, {700000, 1 << 20},
	}
	for _, tc := range cases {
		var buf bytes.Buffer
		if _, err := c.ReadRange(ctxT(t), "/big", tc.off, tc.n, &buf, nil); err != nil {
			t.Fatalf("range %d+%d: %v", tc.off, tc.n, err)
		}
		end := tc.off + tc.n
		if tc.n < 0 || end > int64(len(data)) {
			end = int64(len(data))
		}
		if !bytes.Equal(buf.Bytes(), data[tc.off:end]) {
			t.Fatalf("range %d+%d: wrong bytes (got %d)", tc.off, tc.n, buf.Len())
		}
	}
	var buf bytes.Buffer
	if _, err := c.ReadRange(ctxT(t), "/small", 10, 20, &buf, nil); err != nil || !bytes.Equal(buf.Bytes(), small[10:30]) {
		t.Fatalf("inline range: %v", err)
	}
	if _, err := c.ReadRange(ctxT(t), "/big", int64(len(data))+1, 1, io.Discard, nil); err == nil {
		t.Fatal("range past the end: no error")
	}
}

// hookWriter calls fn once, before the first write.
type hookWriter struct {
	w    io.Writer
	once sync.Once
	fn   func()
}

func (h *hookWriter) Write(b []byte) (int, error) {
	h.once.Do(h.fn)
	return h.w.Write(b)
}

// hookReader calls fn once after `after` bytes were read.
type hookReader struct {
	r     io.Reader
	after int64
	read  int64
	once  sync.Once
	fn    func()
}

func (h *hookReader) Read(b []byte) (int, error) {
	n, err := h.r.Read(b)
	h.read += int64(n)
	if h.read >= h.after {
		h.once.Do(h.fn)
	}
	return n, err
}

func TestTwoNodesKilledMidDownload(t *testing.T) {
	net := testnet.New(t, testnet.Options{})
	c := net.Signup(t)
	data := randBytes(t, 10*(256<<10)+999)
	put(t, c, "/f", data)
	var buf bytes.Buffer
	w := &hookWriter{w: &buf, fn: func() { net.KillNode(1); net.KillNode(4) }}
	if _, err := c.Get(ctxT(t), "/f", w, nil); err != nil {
		t.Fatalf("get with 2 of 6 nodes killed mid-way: %v", err)
	}
	if !bytes.Equal(buf.Bytes(), data) {
		t.Fatal("wrong data after nodes were killed")
	}
	// With a third node gone, 3 < k=4 pieces remain: a clear error, no data.
	net.KillNode(0)
	buf.Reset()
	_, err := c.Get(ctxT(t), "/f", &buf, nil)
	if !errors.Is(err, client.ErrUnavailable) {
		t.Fatalf("get with 3 of 6 nodes down: err = %v, want ErrUnavailable", err)
	}
	// Only an authenticated head, read from byte ranges of data pieces
	// on live nodes, may have been written.
	if !bytes.Equal(buf.Bytes(), data[:min(buf.Len(), len(data))]) || buf.Len() > 64<<10 {
		t.Fatalf("wrote %d bytes although the file cannot be read, not an authentic head", buf.Len())
	}
}

func TestTwoNodesKilledMidUpload(t *testing.T) {
	net := testnet.New(t, testnet.Options{})
	c := net.Signup(t)
	data := randBytes(t, 8*(256<<10)+4321)
	r := &hookReader{r: bytes.NewReader(data), after: 2 * (256 << 10), fn: func() { net.KillNode(2); net.KillNode(3) }}
	if _, err := c.Put(ctxT(t), "/f", r, int64(len(data)), nil); err != nil {
		t.Fatalf("put with 2 of 6 nodes killed mid-way: %v", err)
	}
	if got := get(t, c, "/f"); !bytes.Equal(got, data) {
		t.Fatal("wrong data")
	}
}

func TestNodeRestart(t *testing.T) {
	net := testnet.New(t, testnet.Options{})
	c := net.Signup(t)
	data := randBytes(t, 700000)
	put(t, c, "/a", data)
	for i := range 3 {
		net.KillNode(i)
	}
	for i := range 3 {
		if err := net.StartNode(i); err != nil {
			t.Fatalf("restart node %d: %v", i, err)
		}
	}
	// Only the restarted nodes plus one other: the restarted ones must serve.
	net.KillNode(3)
	net.KillNode(4)
	if got := get(t, c, "/a"); !bytes.Equal(got, data) {
		t.Fatal("wrong data after restart")
	}
}

// corruptPieces flips a byte in the middle of every piece file of node i.
func corruptPieces(t *testing.T, net *testnet.Network, i int) int {
	t.Helper()
	n := 0
	dir := filepath.Join(net.Nodes()[i].DataDir, "pieces")
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() || len(d.Name()) != 64 {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		b[len(b)/2] ^= 0x40
		n++
		return os.WriteFile(p, b, 0o600)
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestCorruptedPieces(t *testing.T) {
	net := testnet.New(t, testnet.Options{})
	c := net.Signup(t)
	data := randBytes(t, 5*(256<<10)+3)
	put(t, c, "/f", data)
	if corruptPieces(t, net, 0) == 0 || corruptPieces(t, net, 5) == 0 {
		t.Fatal("no pieces to corrupt")
	}
	if got := get(t, c, "/f"); !bytes.Equal(got, data) {
		t.Fatal("wrong data with 2 corrupted nodes")
	}
	corruptPieces(t, net, 2)
	var buf bytes.Buffer
	_, err := c.Get(ctxT(t), "/f", &buf, nil)
	if !errors.Is(err, client.ErrUnavailable) {
		t.Fatalf("3 corrupted nodes: err = %v, want ErrUnavailable", err)
	}
	if !strings.Contains(client.HintOf(err), "corrupted") {
		t.Errorf("hint %q does not mention corruption", client.HintOf(err))
	}
	// The first block may have been read (and authenticated) from byte
	// ranges of intact data pieces before the rest failed: whatever was
	// written must be the file's true first bytes, and no more than them.
	if !bytes.Equal(buf.Bytes(), data[:min(buf.Len(), len(data))]) || buf.Len() > 64<<10 {
		t.Fatalf("wrote %d bytes of a file that cannot be rebuilt, not an authentic head", buf.Len())
	}
}

func TestEmptyTrashFreesPieces(t *testing.T) {
	net := testnet.New(t, testnet.Options{})
	c := net.Signup(t)
	put(t, c, "/keep", randBytes(t, 300000))
	kept := net.StoredPieces(t)
	if _, err := c.Mkdir(ctxT(t), "/d/e", true); err != nil {
		t.Fatal(err)
	}
	put(t, c, "/d/e/x", randBytes(t, 600000))
	put(t, c, "/d/y", randBytes(t, 600000))
	if net.StoredPieces(t) <= kept {
		t.Fatal("upload stored no pieces")
	}
	if err := c.Remove(ctxT(t), "/d", false); !errors.Is(err, client.ErrNotEmpty) {
		t.Fatalf("rm non-empty folder without -r: %v", err)
	}
	if err := c.Remove(ctxT(t), "/d", true); err != nil {
		t.Fatal(err)
	}
	// In the trash, the files still take their space.
	net.WaitDeletions(t)
	if net.StoredPieces(t) <= kept {
		t.Fatal("moving to the trash deleted pieces")
	}
	n, err := c.EmptyTrash(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	if n != 4 {
		t.Errorf("emptying the trash deleted %d entries, want 4 (d, e, x, y)", n)
	}
	net.WaitDeletions(t)
	if got := net.StoredPieces(t); got != kept {
		t.Fatalf("after rm: %d pieces on disk, want %d", got, kept)
	}
	if _, err := c.Stat(ctxT(t), "/d"); !errors.Is(err, client.ErrNotFound) {
		t.Fatalf("stat removed folder: %v", err)
	}
}

// TestNoPlaintextAtRest greps every byte the coordinator and nodes store
// for file contents and names.
func TestNoPlaintextAtRest(t *testing.T) {
	net := testnet.New(t, testnet.Options{})
	c := net.Signup(t)
	secret := bytes.Repeat([]byte("TOP-SECRET-PLAINTEXT-0123456789."), 40000) // compressible, repeated
	tiny := []byte("tiny-inline-secret-content")
	names := []string{"Confidential-Folder-Name", "my-diary-entry.txt", "tiny-note.txt"}
	if _, err := c.Mkdir(ctxT(t), "/"+names[0], false); err != nil {
		t.Fatal(err)
	}
	put(t, c, "/"+names[0]+"/"+names[1], secret)
	put(t, c, "/"+names[2], tiny)
	needles := [][]byte{[]byte("TOP-SECRET-PLAINTEXT"), tiny, []byte(testnet.Password)}
	for _, n := range names {
		needles = append(needles, []byte(n))
	}
	// No key either: the master key, in raw, hex and base64 form (the
	// forms JSON and logs would use).
	mk := c.State().MasterKey
	if len(mk) != 32 {
		t.Fatalf("master key has %d bytes", len(mk))
	}
	needles = append(needles, mk, []byte(hex.EncodeToString(mk)),
		[]byte(base64.StdEncoding.EncodeToString(mk)), []byte(base64.RawURLEncoding.EncodeToString(mk)))
	files := 0
	err := filepath.WalkDir(net.Dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		files++
		for _, nd := range needles {
			if bytes.Contains(b, nd) {
				t.Errorf("%s contains %q", p, nd)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if files < 7 {
		t.Fatalf("walked only %d files", files)
	}
}

func TestTreeErrors(t *testing.T) {
	net := testnet.New(t, testnet.Options{})
	c := net.Signup(t)
	ctx := ctxT(t)
	put(t, c, "/f", []byte("hello"))
	if _, err := c.Put(ctx, "/f", bytes.NewReader([]byte("x")), 1, nil); !errors.Is(err, client.ErrExists) {
		t.Errorf("put over existing file: %v", err)
	}
	if _, err := c.Put(ctx, "/missing/f", bytes.NewReader([]byte("x")), 1, nil); !errors.Is(err, client.ErrNotFound) {
		t.Errorf("put into missing folder: %v", err)
	}
	if _, err := c.Put(ctx, "/f/g", bytes.NewReader([]byte("x")), 1, nil); !errors.Is(err, client.ErrNotFolder) {
		t.Errorf("put under a file: %v", err)
	}
	if _, err := c.Put(ctx, "relative", bytes.NewReader(nil), 0, nil); !errors.Is(err, client.ErrBadPath) {
		t.Errorf("relative path: %v", err)
	}
	if _, err := c.Put(ctx, "/a/../b", bytes.NewReader(nil), 0, nil); !errors.Is(err, client.ErrBadPath) {
		t.Errorf("dot-dot path: %v", err)
	}
	// A reader shorter than announced must fail and leave nothing behind.
	if _, err := c.Put(ctx, "/short", bytes.NewReader(make([]byte, 100000)), 200000, nil); err == nil {
		t.Error("short reader: no error")
	}
	if _, err := c.Put(ctx, "/long", bytes.NewReader(make([]byte, 300000)), 200000, nil); err == nil {
		t.Error("long reader: no error")
	}
	for _, p := range []string{"/short", "/long"} {
		if _, err := c.Stat(ctx, p); !errors.Is(err, client.ErrNotFound) {
			t.Errorf("%s exists after a failed put: %v", p, err)
		}
	}
	if _, err := c.Mkdir(ctx, "/x/y", false); !errors.Is(err, client.ErrNotFound) {
		t.Errorf("mkdir without -p: %v", err)
	}
	if _, err := c.Mkdir(ctx, "/f", true); !errors.Is(err, client.ErrNotFolder) {
		t.Errorf("mkdir over a file: %v", err)
	}
	if _, err := c.Get(ctx, "/", io.Discard, nil); !errors.Is(err, client.ErrIsFolder) {
		t.Errorf("get a folder: %v", err)
	}
}

func TestSecondLoginSeesTree(t *testing.T) {
	net := testnet.New(t, testnet.Options{})
	email := testnet.NewEmail()
	c := net.SignupAs(t, email)
	data := randBytes(t, 500000)
	put(t, c, "/doc", data)
	c2, err := client.Login(ctxT(t), net.URL, email, []byte(testnet.Password), nil, net.ClientOptions())
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	if got := get(t, c2, "/doc"); !bytes.Equal(got, data) {
		t.Fatal("second session reads other data")
	}
	if _, err := client.Login(ctxT(t), net.URL, email, []byte("wrong password"), nil, net.ClientOptions()); !errors.Is(err, client.ErrUnauthorized) {
		t.Fatalf("wrong password: %v", err)
	}
	// Another account sees none of it.
	other := net.Signup(t)
	if _, err := other.Stat(ctxT(t), "/doc"); !errors.Is(err, client.ErrNotFound) {
		t.Fatalf("other account stat: %v", err)
	}
	// A saved session resumes.
	c3, err := client.New(c.State(), net.ClientOptions())
	if err != nil {
		t.Fatal(err)
	}
	if got := get(t, c3, "/doc"); !bytes.Equal(got, data) {
		t.Fatal("resumed session reads other data")
	}
}

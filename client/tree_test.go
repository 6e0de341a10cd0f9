package client_test

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/nuage-storage/nuage/client"
	"github.com/nuage-storage/nuage/internal/metadb"
	"github.com/nuage-storage/nuage/internal/testnet"
)

func mkdir(t *testing.T, c *client.Client, p string) client.Entry {
	t.Helper()
	e, err := c.Mkdir(ctxT(t), p, true)
	if err != nil {
		t.Fatalf("mkdir %s: %v", p, err)
	}
	return e
}

// names lists the names in folder p.
func names(t *testing.T, c *client.Client, p string) []string {
	t.Helper()
	es, err := c.List(ctxT(t), p)
	if err != nil {
		t.Fatalf("ls %s: %v", p, err)
	}
	var out []string
	for _, e := range es {
		out = append(out, e.Name)
	}
	return out
}

func wantNames(t *testing.T, c *client.Client, p string, want ...string) {
	t.Helper()
	if got := names(t, c, p); !slices.Equal(got, want) {
		t.Fatalf("ls %s = %q, want %q", p, got, want)
	}
}

func overwrite(t *testing.T, c *client.Client, p string, data []byte) client.Entry {
	t.Helper()
	e, err := c.Put(ctxT(t), p, bytes.NewReader(data), int64(len(data)), &client.PutOptions{Overwrite: true})
	if err != nil {
		t.Fatalf("put --overwrite %s: %v", p, err)
	}
	return e
}

func TestMove(t *testing.T) {
	net := testnet.New(t, testnet.Options{})
	c := net.Signup(t)
	ctx := ctxT(t)
	mkdir(t, c, "/a/sub")
	mkdir(t, c, "/b")
	big := randBytes(t, 300000)
	put(t, c, "/a/f", []byte("small file"))
	put(t, c, "/a/sub/big", big)

	// Into an existing folder, keeping the name.
	e, err := c.Move(ctx, "/a/f", "/b", false)
	if err != nil || e.Path != "/b/f" {
		t.Fatalf("mv /a/f /b: %v %+v", err, e)
	}
	wantNames(t, c, "/a", "sub")
	wantNames(t, c, "/b", "f")
	// Rename.
	if _, err := c.Move(ctx, "/b/f", "/b/g", false); err != nil {
		t.Fatal(err)
	}
	if got := get(t, c, "/b/g"); string(got) != "small file" {
		t.Fatalf("renamed file reads %q", got)
	}
	// A folder moves with everything in it, without re-uploading.
	before := net.StoredPieces(t)
	if _, err := c.Move(ctx, "/a", "/b/a2", false); err != nil {
		t.Fatal(err)
	}
	if got := get(t, c, "/b/a2/sub/big"); !bytes.Equal(got, big) {
		t.Fatal("file in a moved folder differs")
	}
	if after := net.StoredPieces(t); after != before {
		t.Fatalf("moving stored pieces: %d before, %d after", before, after)
	}
	wantNames(t, c, "/", "b")
	// Into itself or below itself.
	for _, dst := range []string{"/b/a2", "/b/a2/sub", "/b/a2/sub/x"} {
		if _, err := c.Move(ctx, "/b/a2", dst, false); dst != "/b/a2" && !errors.Is(err, client.ErrBadPath) {
			t.Errorf("mv /b/a2 %s: %v, want ErrBadPath", dst, err)
		}
	}
	if _, err := c.Move(ctx, "/b", "/b/a2/sub", false); !errors.Is(err, client.ErrBadPath) {
		t.Errorf("mv /b into its grandchild: %v", err)
	}
	if _, err := c.Move(ctx, "/", "/x", false); !errors.Is(err, client.ErrBadPath) {
		t.Errorf("mv /: %v", err)
	}
	// Name conflicts.
	put(t, c, "/b/h", []byte("h"))
	if _, err := c.Move(ctx, "/b/g", "/b/h", false); !errors.Is(err, client.ErrExists) {
		t.Fatalf("mv onto an existing file: %v", err)
	}
	if _, err := c.Move(ctx, "/b/g", "/b/h", true); err != nil {
		t.Fatalf("mv --overwrite: %v", err)
	}
	if got := get(t, c, "/b/h"); string(got) != "small file" {
		t.Fatalf("overwritten file reads %q", got)
	}
	items, err := c.Trash(ctx)
	if err != nil || len(items) != 1 || items[0].Path != "/b/h" {
		t.Fatalf("the replaced file is not in the trash: %v %+v", err, items)
	}
	mkdir(t, c, "/b/dir")
	if _, err := c.Move(ctx, "/b/h", "/b/dir", true); err != nil {
		t.Fatalf("mv into a folder: %v", err)
	}
	mkdir(t, c, "/b/dir2/h")
	if _, err := c.Move(ctx, "/b/dir/h", "/b/dir2", true); !errors.Is(err, client.ErrIsFolder) {
		t.Fatalf("mv --overwrite onto a folder: %v, want ErrIsFolder", err)
	}
	if _, err := c.Move(ctx, "/missing", "/b", false); !errors.Is(err, client.ErrNotFound) {
		t.Fatalf("mv a missing file: %v", err)
	}
	if _, err := c.Move(ctx, "/b/dir/h", "/nowhere/h", false); !errors.Is(err, client.ErrNotFound) {
		t.Fatalf("mv into a missing folder: %v", err)
	}
	// Another device sees the same tree.
	c2, err := client.Login(ctx, net.URL, c.Email(), []byte(testnet.Password), nil, net.ClientOptions())
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	wantNames(t, c2, "/b", "a2", "dir", "dir2")
	if got := get(t, c2, "/b/a2/sub/big"); !bytes.Equal(got, big) {
		t.Fatal("second device reads other data")
	}
}

func TestTrashAndRestore(t *testing.T) {
	net := testnet.New(t, testnet.Options{})
	c := net.Signup(t)
	ctx := ctxT(t)
	mkdir(t, c, "/docs/old")
	put(t, c, "/docs/a.txt", []byte("first a"))
	put(t, c, "/docs/old/b.txt", []byte("b"))

	if err := c.Remove(ctx, "/docs", false); !errors.Is(err, client.ErrNotEmpty) {
		t.Fatalf("rm a non-empty folder: %v", err)
	}
	if err := c.Remove(ctx, "/", true); !errors.Is(err, client.ErrBadPath) {
		t.Fatalf("rm /: %v", err)
	}
	if err := c.Remove(ctx, "/docs/a.txt", false); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Stat(ctx, "/docs/a.txt"); !errors.Is(err, client.ErrNotFound) {
		t.Fatalf("removed file still there: %v", err)
	}
	// A second file of the same name goes to the trash too.
	put(t, c, "/docs/a.txt", []byte("second a"))
	if err := c.Remove(ctx, "/docs/a.txt", false); err != nil {
		t.Fatal(err)
	}
	items, err := c.Trash(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(items) != 2 || items[0].Path != "/docs/a.txt" || items[1].Path != "/docs/a.txt" || items[0].Name != "a.txt" {
		t.Fatalf("trash: %+v", items)
	}
	// Restore by path takes the most recent; the name is then taken.
	e, err := c.Restore(ctx, "/docs/a.txt", false)
	if err != nil || e.Path != "/docs/a.txt" {
		t.Fatalf("restore: %v %+v", err, e)
	}
	if got := get(t, c, "/docs/a.txt"); string(got) != "second a" {
		t.Fatalf("restored %q, want the most recently removed", got)
	}
	restored := "second a"
	if _, err := c.Restore(ctx, "/docs/a.txt", false); !errors.Is(err, client.ErrExists) {
		t.Fatalf("restore onto a taken name: %v", err)
	}
	if _, err := c.Restore(ctx, "/docs/a.txt", true); err != nil {
		t.Fatalf("restore --overwrite: %v", err)
	}
	if got := string(get(t, c, "/docs/a.txt")); got == restored {
		t.Fatalf("restore --overwrite did not replace the file (%q)", got)
	}
	// The replaced one is in the trash, restorable by ID.
	items, err = c.Trash(ctx)
	if err != nil || len(items) != 1 {
		t.Fatalf("trash after overwrite: %v %+v", err, items)
	}
	if err := c.Remove(ctx, "/docs/a.txt", false); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Restore(ctx, items[0].ID, false); err != nil {
		t.Fatalf("restore by ID: %v", err)
	}

	// A file whose folder went to the trash after it: restoring the file
	// recreates the folder's path.
	if err := c.Remove(ctx, "/docs/old/b.txt", false); err != nil {
		t.Fatal(err)
	}
	if err := c.Remove(ctx, "/docs/old", false); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Stat(ctx, "/docs/old"); !errors.Is(err, client.ErrNotFound) {
		t.Fatal("folder still there")
	}
	e, err = c.Restore(ctx, "/docs/old/b.txt", false)
	if err != nil || e.Path != "/docs/old/b.txt" {
		t.Fatalf("restore into a trashed folder: %v %+v", err, e)
	}
	if got := get(t, c, "/docs/old/b.txt"); string(got) != "b" {
		t.Fatalf("restored %q", got)
	}
	// The old folder is still in the trash, and restoring it now clashes.
	if _, err := c.Restore(ctx, "/docs/old", false); !errors.Is(err, client.ErrExists) {
		t.Fatalf("restore a folder onto the recreated one: %v", err)
	}
	// A whole folder, and a folder whose parent is gone for good.
	mkdir(t, c, "/p/q")
	put(t, c, "/p/q/r", []byte("r"))
	if err := c.Remove(ctx, "/p/q", true); err != nil {
		t.Fatal(err)
	}
	if err := c.Remove(ctx, "/p", true); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Restore(ctx, "/p/q", false); err != nil {
		t.Fatal(err)
	}
	if got := get(t, c, "/p/q/r"); string(got) != "r" {
		t.Fatalf("file in a restored folder: %q", got)
	}
	if _, err := c.Restore(ctx, "/nothing", false); !errors.Is(err, client.ErrNotFound) {
		t.Fatalf("restore of something not in the trash: %v", err)
	}

	// Empty the trash: everything in it is gone, the rest stays. In it:
	// the first a.txt, /docs/old and /p.
	items, err = c.Trash(ctx)
	if err != nil || len(items) != 3 {
		t.Fatalf("trash before emptying: %v %+v", err, items)
	}
	n, err := c.EmptyTrash(ctx)
	if err != nil || n != 3 {
		t.Fatalf("empty trash: %d, %v", n, err)
	}
	if items, err := c.Trash(ctx); err != nil || len(items) != 0 {
		t.Fatalf("trash after emptying: %v %+v", err, items)
	}
	if n, err := c.EmptyTrash(ctx); err != nil || n != 0 {
		t.Fatalf("empty an empty trash: %d, %v", n, err)
	}
	wantNames(t, c, "/", "docs", "p")
	if got := get(t, c, "/docs/old/b.txt"); string(got) != "b" {
		t.Fatal("emptying the trash touched the tree")
	}
}

func TestVersions(t *testing.T) {
	net := testnet.New(t, testnet.Options{})
	c := net.Signup(t)
	ctx := ctxT(t)
	// Versions alternate between inline and stored sizes.
	var contents [][]byte
	for i := range client.MaxVersions + 3 {
		size := 100 + i
		if i%2 == 1 {
			size = 5000 + i
		}
		data := randBytes(t, size)
		contents = append(contents, data)
		if i == 0 {
			put(t, c, "/v", data)
		} else {
			e := overwrite(t, c, "/v", data)
			if want := min(i, client.MaxVersions); e.Versions != want {
				t.Fatalf("after %d overwrites the entry has %d versions, want %d", i, e.Versions, want)
			}
		}
	}
	vs, err := c.Versions(ctx, "/v")
	if err != nil {
		t.Fatal(err)
	}
	if len(vs) != client.MaxVersions+1 {
		t.Fatalf("%d versions, want %d", len(vs), client.MaxVersions+1)
	}
	last := len(contents) - 1
	for _, v := range vs {
		want := contents[last-v.N]
		if v.Size != int64(len(want)) {
			t.Errorf("version %d: size %d, want %d", v.N, v.Size, len(want))
		}
		if (v.N == 0) != v.Replaced.IsZero() {
			t.Errorf("version %d: replaced %v", v.N, v.Replaced)
		}
		var buf bytes.Buffer
		e, err := c.ReadVersion(ctx, "/v", v.N, 0, -1, &buf, nil)
		if err != nil {
			t.Fatalf("read version %d: %v", v.N, err)
		}
		if !bytes.Equal(buf.Bytes(), want) || e.Size != int64(len(want)) {
			t.Fatalf("version %d reads other data", v.N)
		}
	}
	var buf bytes.Buffer
	if _, err := c.ReadVersion(ctx, "/v", client.MaxVersions+1, 0, -1, &buf, nil); !errors.Is(err, client.ErrNotFound) {
		t.Fatalf("version past the last: %v", err)
	}
	if _, err := c.ReadVersion(ctx, "/v", 2, 10, 20, &buf, nil); err != nil || !bytes.Equal(buf.Bytes(), contents[last-2][10:30]) {
		t.Fatalf("range of version 2: %v", err)
	}
	// The entry references exactly the stored objects of the kept
	// versions: dropped ones were deleted.
	acct, err := hex.DecodeString(c.State().Account)
	if err != nil {
		t.Fatal(err)
	}
	e, err := c.Stat(ctx, "/v")
	if err != nil {
		t.Fatal(err)
	}
	id, _ := hex.DecodeString(e.ID)
	stored, err := net.DB.Entry(ctx, metadb.ID16(acct), metadb.ID16(id))
	if err != nil {
		t.Fatal(err)
	}
	wantObjects := 0
	for _, v := range vs {
		if v.Size > 4096 {
			wantObjects++
		}
	}
	if len(stored.Objects) != wantObjects {
		t.Fatalf("the entry references %d objects, want %d", len(stored.Objects), wantObjects)
	}
	if _, err := c.Versions(ctx, "/"); !errors.Is(err, client.ErrIsFolder) {
		t.Fatalf("versions of a folder: %v", err)
	}
	// Overwriting a folder is refused; without --overwrite, a file too.
	mkdir(t, c, "/d")
	if _, err := c.Put(ctx, "/d", bytes.NewReader(nil), 0, &client.PutOptions{Overwrite: true}); !errors.Is(err, client.ErrIsFolder) {
		t.Fatalf("put --overwrite onto a folder: %v", err)
	}
	if _, err := c.Put(ctx, "/v", bytes.NewReader(nil), 0, nil); !errors.Is(err, client.ErrExists) {
		t.Fatalf("put onto a file: %v", err)
	}
}

func TestWalkAndDiskUsage(t *testing.T) {
	net := testnet.New(t, testnet.Options{})
	c := net.Signup(t)
	ctx := ctxT(t)
	mkdir(t, c, "/b/y")
	mkdir(t, c, "/a")
	put(t, c, "/b/y/z", []byte("zz"))
	put(t, c, "/b/x", []byte("xxx"))
	put(t, c, "/c", randBytes(t, 10000))
	var got []string
	if err := c.Walk(ctx, "/", func(e client.Entry) error {
		got = append(got, e.Path)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	want := []string{"/", "/a", "/b", "/b/x", "/b/y", "/b/y/z", "/c"}
	if !slices.Equal(got, want) {
		t.Fatalf("walk: %q, want %q", got, want)
	}
	got = nil
	if err := c.Walk(ctx, "/", func(e client.Entry) error {
		got = append(got, e.Path)
		if e.Path == "/b" {
			return fs.SkipDir
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if want := []string{"/", "/a", "/b", "/c"}; !slices.Equal(got, want) {
		t.Fatalf("walk with SkipDir: %q, want %q", got, want)
	}
	stop := errors.New("stop")
	if err := c.Walk(ctx, "/b", func(e client.Entry) error { return stop }); !errors.Is(err, stop) {
		t.Fatalf("walk error: %v", err)
	}
	du, err := c.DiskUsage(ctx, "/")
	if err != nil {
		t.Fatal(err)
	}
	if du != (client.DiskUsage{Files: 3, Folders: 3, Bytes: 10005}) {
		t.Fatalf("du /: %+v", du)
	}
	if du, err := c.DiskUsage(ctx, "/b/x"); err != nil || du != (client.DiskUsage{Files: 1, Bytes: 3}) {
		t.Fatalf("du /b/x: %+v %v", du, err)
	}
	q, err := c.Quota(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if q.Files != 3 || q.Folders != 3 || q.Used < 10000 {
		t.Fatalf("quota: %+v", q)
	}
}

func TestPublicKey(t *testing.T) {
	net := testnet.New(t, testnet.Options{})
	email := testnet.NewEmail()
	c := net.SignupAs(t, email)
	if len(c.PublicKey()) != 32 {
		t.Fatalf("public key of %d bytes", len(c.PublicKey()))
	}
	fp := c.Fingerprint()
	if !regexp.MustCompile(`^[0-9a-f]{4}(-[0-9a-f]{4}){7}$`).MatchString(fp) {
		t.Fatalf("fingerprint %q", fp)
	}
	c2, err := client.Login(ctxT(t), net.URL, email, []byte(testnet.Password), nil, net.ClientOptions())
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	if !bytes.Equal(c2.PublicKey(), c.PublicKey()) || c2.Fingerprint() != fp {
		t.Fatal("another login sees another key")
	}
	if other := net.Signup(t); other.Fingerprint() == fp {
		t.Fatal("two accounts with one key")
	}
}

// journalHead returns the seq of the account's latest journal record.
func journalHead(t *testing.T, net *testnet.Network, c *client.Client) uint64 {
	t.Helper()
	acct, err := hex.DecodeString(c.State().Account)
	if err != nil {
		t.Fatal(err)
	}
	seq, _, err := net.DB.JournalHead(ctxT(t), metadb.ID16(acct))
	if err != nil {
		t.Fatal(err)
	}
	return seq
}

func TestConcurrentChangesAreGrouped(t *testing.T) {
	net := testnet.New(t, testnet.Options{})
	c := net.Signup(t)
	const workers, files = 16, 400
	start := journalHead(t, net, c)
	var wg sync.WaitGroup
	errs := make(chan error, files+workers)
	for w := range workers {
		wg.Go(func() {
			// Every worker creates the same folders, concurrently.
			if _, err := c.Mkdir(ctxT(t), "/x/y/z", true); err != nil {
				errs <- fmt.Errorf("mkdir -p: %w", err)
			}
			for i := w; i < files; i += workers {
				p := fmt.Sprintf("/x/y/z/f%03d", i)
				if _, err := c.Put(ctxT(t), p, bytes.NewReader([]byte(p)), int64(len(p)), nil); err != nil {
					errs <- fmt.Errorf("put %s: %w", p, err)
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if got := len(names(t, c, "/x/y/z")); got != files {
		t.Fatalf("%d files, want %d", got, files)
	}
	wantNames(t, c, "/x", "y")
	records := journalHead(t, net, c) - start
	t.Logf("%d changes from %d goroutines in %d journal records", files+3, workers, records)
	if records >= files/2 {
		t.Errorf("%d records for %d files: changes are not grouped", records, files)
	}
	// Each file reads back what was written, from a fresh device.
	c2, err := client.Login(ctxT(t), net.URL, c.Email(), []byte(testnet.Password), nil, net.ClientOptions())
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	for _, i := range []int{0, files / 2, files - 1} {
		p := fmt.Sprintf("/x/y/z/f%03d", i)
		if got := get(t, c2, p); string(got) != p {
			t.Fatalf("%s reads %q", p, got)
		}
	}
}

func TestTwoDevicesRace(t *testing.T) {
	net := testnet.New(t, testnet.Options{})
	c1 := net.Signup(t)
	c2, err := client.Login(ctxT(t), net.URL, c1.Email(), []byte(testnet.Password), nil, net.ClientOptions())
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	// Both devices know the tree, then write at the same time: their
	// commits go stale and are retried; one name can be taken only once.
	names(t, c1, "/")
	names(t, c2, "/")
	const n = 30
	var wg sync.WaitGroup
	var mu sync.Mutex
	won := map[string]int{}
	for d, c := range []*client.Client{c1, c2} {
		wg.Go(func() {
			for i := range n {
				p := fmt.Sprintf("/dev%d-%02d", d, i)
				if _, err := c.Put(ctxT(t), p, bytes.NewReader([]byte(p)), int64(len(p)), nil); err != nil {
					t.Errorf("put %s: %v", p, err)
				}
				shared := fmt.Sprintf("/shared-%02d", i)
				_, err := c.Put(ctxT(t), shared, bytes.NewReader([]byte(p)), int64(len(p)), nil)
				switch {
				case err == nil:
					mu.Lock()
					won[shared]++
					mu.Unlock()
				case !errors.Is(err, client.ErrExists):
					t.Errorf("put %s: %v", shared, err)
				}
			}
		})
	}
	wg.Wait()
	for i := range n {
		if s := fmt.Sprintf("/shared-%02d", i); won[s] != 1 {
			t.Errorf("%s written %d times", s, won[s])
		}
	}
	for _, c := range []*client.Client{c1, c2} {
		if got := len(names(t, c, "/")); got != 3*n {
			t.Fatalf("a device sees %d files, want %d", got, 3*n)
		}
	}
}

func TestJournalStateDir(t *testing.T) {
	net := testnet.New(t, testnet.Options{})
	dir := t.TempDir()
	opts := net.ClientOptions()
	opts.StateDir = dir
	email := testnet.NewEmail()
	kdf := testnet.CheapKDF()
	c, err := client.Signup(ctxT(t), net.URL, email, []byte(testnet.Password), &client.SignupOptions{KDF: &kdf}, opts)
	if err != nil {
		t.Fatal(err)
	}
	put(t, c, "/a", []byte("a"))
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, "journal-"+c.State().Account+".bin")
	st, err := os.Stat(file)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Fatalf("journal state has mode %v", st.Mode().Perm())
	}
	// A damaged state file means replaying the journal, not an error.
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)/2] ^= 1
	if err := os.WriteFile(file, b, 0o600); err != nil {
		t.Fatal(err)
	}
	c2, err := client.New(c.State(), opts)
	if err != nil {
		t.Fatal(err)
	}
	wantNames(t, c2, "/", "a")
	put(t, c2, "/b", []byte("b"))
	if err := c2.Close(); err != nil {
		t.Fatal(err)
	}
	// The rewritten state is whole again and continues the chain.
	c3, err := client.New(c.State(), opts)
	if err != nil {
		t.Fatal(err)
	}
	defer c3.Close()
	wantNames(t, c3, "/", "a", "b")
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		var ns []string
		for _, e := range entries {
			ns = append(ns, e.Name())
		}
		t.Fatalf("state directory holds %s", strings.Join(ns, ", "))
	}
}

func TestSavedSessionFromOlderVersion(t *testing.T) {
	net := testnet.New(t, testnet.Options{})
	c := net.Signup(t)
	st := c.State()
	st.Trash.ID = ""
	if _, err := client.New(st, net.ClientOptions()); err == nil || client.HintOf(err) == "" {
		t.Fatalf("a saved session without a trash folder: %v", err)
	}
}

func TestQuota(t *testing.T) {
	net := testnet.New(t, testnet.Options{Quota: 1 << 20})
	c := net.Signup(t)
	ctx := ctxT(t)
	put(t, c, "/a", randBytes(t, 600000))
	q, err := c.Quota(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if q.Quota != 1<<20 || q.Used < 600000 || q.Files != 1 {
		t.Fatalf("quota: %+v", q)
	}
	data := randBytes(t, 600000)
	_, err = c.Put(ctx, "/b", bytes.NewReader(data), int64(len(data)), nil)
	var ae *client.APIError
	if !errors.As(err, &ae) || ae.Code != "quota_exceeded" || client.HintOf(err) == "" {
		t.Fatalf("put over the quota: %v", err)
	}
	// The trash still counts; emptying it frees the space.
	if err := c.Remove(ctx, "/a", false); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Put(ctx, "/b", bytes.NewReader(data), int64(len(data)), nil); err == nil {
		t.Fatal("the trash does not count against the quota")
	}
	if _, err := c.EmptyTrash(ctx); err != nil {
		t.Fatal(err)
	}
	put(t, c, "/b", data)
	if got := get(t, c, "/b"); !bytes.Equal(got, data) {
		t.Fatal("wrong data")
	}
}

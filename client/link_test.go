package client_test

import (
	"bytes"
	"database/sql"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/nuage-storage/nuage/client"
	"github.com/nuage-storage/nuage/internal/crypto/keys"
	"github.com/nuage-storage/nuage/internal/link"
	"github.com/nuage-storage/nuage/internal/testnet"
)

// openLink opens a link as someone without an account.
func openLink(t *testing.T, net *testnet.Network, url string, password string, download bool) (*client.Client, client.Entry, error) {
	t.Helper()
	lo := client.LinkOpenOptions{Download: download}
	if password != "" {
		lo.Password = func() ([]byte, error) { return []byte(password), nil }
	}
	v, e, err := client.OpenLink(ctxT(t), url, lo, net.ClientOptions())
	if err == nil {
		t.Cleanup(func() { v.Close() })
	}
	return v, e, err
}

// putp is put that first makes the parent folders.
func putp(t *testing.T, c *client.Client, p string, data []byte) client.Entry {
	t.Helper()
	if i := strings.LastIndex(p, "/"); i > 0 {
		if _, err := c.Mkdir(ctxT(t), p[:i], true); err != nil {
			t.Fatalf("mkdir -p %s: %v", p[:i], err)
		}
	}
	return put(t, c, p, data)
}

func mustOpenLink(t *testing.T, net *testnet.Network, url, password string) (*client.Client, client.Entry) {
	t.Helper()
	v, e, err := openLink(t, net, url, password, true)
	if err != nil {
		t.Fatalf("open %s: %v", url, err)
	}
	return v, e
}

func TestLinkFile(t *testing.T) {
	net := testnet.New(t, testnet.Options{})
	c := net.Signup(t)
	data := randBytes(t, 700<<10) // several segments
	putp(t, c, "/docs/report.pdf", data)
	putp(t, c, "/docs/secret.txt", []byte("not shared"))

	l, err := c.CreateLink(ctxT(t), "/docs/report.pdf", client.LinkOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !client.IsLinkURL(l.URL) || !strings.Contains(l.URL, "#") || l.Kind != "file" || l.Path != "/docs/report.pdf" {
		t.Fatalf("link %+v", l)
	}
	v, e := mustOpenLink(t, net, l.URL, "")
	if e.IsDir || e.Name != "report.pdf" || e.Size != int64(len(data)) {
		t.Fatalf("target entry %+v", e)
	}
	if got := get(t, v, "/"); !bytes.Equal(got, data) {
		t.Fatal("the linked file reads back different")
	}
	var buf bytes.Buffer
	if _, err := v.ReadRange(ctxT(t), "/", 300<<10, 1000, &buf, nil); err != nil || !bytes.Equal(buf.Bytes(), data[300<<10:300<<10+1000]) {
		t.Fatalf("range read through the link: %v", err)
	}
	// A file link is not a folder: nothing beside it can be reached.
	if _, err := v.Stat(ctxT(t), "/secret.txt"); err == nil {
		t.Fatal("a file link reached a sibling")
	}
	// The link is read-only.
	if _, err := v.Put(ctxT(t), "/x", bytes.NewReader([]byte("x")), 1, nil); !errors.Is(err, client.ErrReadOnly) {
		t.Fatalf("put through a link: %v", err)
	}
	// The owner lists it, with its URL.
	ls, err := c.Links(ctxT(t))
	if err != nil || len(ls) != 1 || ls[0].URL != l.URL || ls[0].Downloads != 1 || ls[0].State(time.Now()) != "active" {
		t.Fatalf("links %+v %v", ls, err)
	}
}

func TestLinkFolder(t *testing.T) {
	net := testnet.New(t, testnet.Options{})
	c := net.Signup(t)
	big := randBytes(t, 300<<10)
	putp(t, c, "/pub/a.txt", []byte("alpha"))
	putp(t, c, "/pub/sub/b.bin", big)
	putp(t, c, "/private/c.txt", []byte("private"))
	l, err := c.CreateLink(ctxT(t), "/pub", client.LinkOptions{})
	if err != nil {
		t.Fatal(err)
	}
	v, e := mustOpenLink(t, net, l.URL, "")
	if !e.IsDir || e.Name != "pub" {
		t.Fatalf("target %+v", e)
	}
	es, err := v.List(ctxT(t), "/")
	if err != nil || len(es) != 2 || es[0].Name != "a.txt" || es[1].Name != "sub" || es[1].Path != "/sub" {
		t.Fatalf("list: %+v %v", es, err)
	}
	var walked []string
	if err := v.Walk(ctxT(t), "/", func(e client.Entry) error { walked = append(walked, e.Path); return nil }); err != nil {
		t.Fatal(err)
	}
	if strings.Join(walked, " ") != "/ /a.txt /sub /sub/b.bin" {
		t.Fatalf("walk: %v", walked)
	}
	if got := get(t, v, "/sub/b.bin"); !bytes.Equal(got, big) {
		t.Fatal("file in a linked folder reads back different")
	}
	for _, p := range []string{"/private", "/private/c.txt", "/../private"} {
		if _, err := v.Stat(ctxT(t), p); err == nil {
			t.Fatalf("the link reached %s", p)
		}
	}
	if _, err := v.Mkdir(ctxT(t), "/new", false); !errors.Is(err, client.ErrReadOnly) {
		t.Fatalf("mkdir through a link: %v", err)
	}
	if err := v.Remove(ctxT(t), "/a.txt", false); !errors.Is(err, client.ErrReadOnly) {
		t.Fatalf("rm through a link: %v", err)
	}
}

func TestLinkPassword(t *testing.T) {
	net := testnet.New(t, testnet.Options{})
	c := net.Signup(t)
	putp(t, c, "/f.txt", []byte("password protected"))
	kdf := testnet.CheapKDF()
	l, err := c.CreateLink(ctxT(t), "/f.txt", client.LinkOptions{Password: []byte("open sesame"), KDF: &kdf})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := openLink(t, net, l.URL, "", true); !errors.Is(err, client.ErrLinkPassword) {
		t.Fatalf("no password: %v", err)
	}
	if _, _, err := openLink(t, net, l.URL, "open sesame!", true); !errors.Is(err, client.ErrLinkPassword) {
		t.Fatalf("wrong password: %v", err)
	}
	v, _ := mustOpenLink(t, net, l.URL, "open sesame")
	if got := get(t, v, "/"); string(got) != "password protected" {
		t.Fatalf("got %q", got)
	}
}

func TestLinkDamaged(t *testing.T) {
	net := testnet.New(t, testnet.Options{})
	c := net.Signup(t)
	putp(t, c, "/f.txt", []byte("x"))
	l, err := c.CreateLink(ctxT(t), "/f.txt", client.LinkOptions{})
	if err != nil {
		t.Fatal(err)
	}
	i := strings.Index(l.URL, "#")
	flip := func(s string, at int) string {
		b := []byte(s)
		if b[at] == 'A' {
			b[at] = 'B'
		} else {
			b[at] = 'A'
		}
		return string(b)
	}
	for name, u := range map[string]string{
		"no fragment":      l.URL[:i],
		"short fragment":   l.URL[:len(l.URL)-3],
		"flipped secret":   flip(l.URL, i+10),
		"flipped ID":       flip(l.URL, i-5),
		"not a link":       "http://127.0.0.1:1/x",
		"another scheme":   "ftp" + l.URL[4:],
		"flipped version":  flip(l.URL, i+1),
		"trailing garbage": l.URL + "x",
	} {
		if _, _, err := openLink(t, net, u, "", true); !errors.Is(err, client.ErrBadLink) {
			t.Errorf("%s: got %v, want ErrBadLink", name, err)
		}
	}
	// A well-formed URL with another secret (and its check recomputed) is
	// refused by the coordinator, and reported as a damaged link.
	u, err := link.Parse(l.URL)
	if err != nil {
		t.Fatal(err)
	}
	u.Secret[0] ^= 1
	if _, _, err := openLink(t, net, u.String(), "", true); !errors.Is(err, client.ErrBadLink) {
		t.Errorf("another secret: %v", err)
	}
}

func TestLinkExpiryAndLimit(t *testing.T) {
	net := testnet.New(t, testnet.Options{})
	c := net.Signup(t)
	putp(t, c, "/big.bin", randBytes(t, 100<<10))
	exp, err := c.CreateLink(ctxT(t), "/big.bin", client.LinkOptions{Expires: time.Now().Add(1500 * time.Millisecond)})
	if err != nil {
		t.Fatal(err)
	}
	mustOpenLink(t, net, exp.URL, "")
	time.Sleep(2100 * time.Millisecond)
	if _, _, err := openLink(t, net, exp.URL, "", true); !errors.Is(err, client.ErrLinkExpired) || !errors.Is(err, client.ErrLinkInvalid) {
		t.Fatalf("expired: %v", err)
	}

	lim, err := c.CreateLink(ctxT(t), "/big.bin", client.LinkOptions{MaxDownloads: 2})
	if err != nil {
		t.Fatal(err)
	}
	// Listing does not count; fetching content does, once per session.
	ls, _, err := openLink(t, net, lim.URL, "", false)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ls.List(ctxT(t), "/"); err != nil {
		t.Fatal(err)
	}
	get(t, ls, "/")
	get(t, ls, "/")
	// A session opened for listing before the limit is reached…
	ls2, _, err := openLink(t, net, lim.URL, "", false)
	if err != nil {
		t.Fatal(err)
	}
	v, _ := mustOpenLink(t, net, lim.URL, "")
	get(t, v, "/")
	if _, _, err := openLink(t, net, lim.URL, "", true); !errors.Is(err, client.ErrLinkExhausted) {
		t.Fatalf("third download: %v", err)
	}
	// …cannot fetch content past it, and an exhausted link opens no session.
	var buf bytes.Buffer
	if _, err := ls2.Get(ctxT(t), "/", &buf, nil); !errors.Is(err, client.ErrLinkExhausted) || buf.Len() != 0 {
		t.Fatalf("content past the limit: %v", err)
	}
	if _, _, err := openLink(t, net, lim.URL, "", false); !errors.Is(err, client.ErrLinkExhausted) {
		t.Fatalf("listing an exhausted link: %v", err)
	}
	all, err := c.Links(ctxT(t))
	if err != nil || len(all) != 2 || all[0].State(time.Now()) != "expired" || all[1].State(time.Now()) != "exhausted" || all[1].Downloads != 2 {
		t.Fatalf("links: %+v %v", all, err)
	}
}

// TestLinkRevokeRotates revokes a link: the coordinator refuses it, and the
// key it carries opens nothing written afterwards, while another link to
// the same folder keeps working with the new keys.
func TestLinkRevokeRotates(t *testing.T) {
	net := testnet.New(t, testnet.Options{})
	c := net.Signup(t)
	putp(t, c, "/pub/old.txt", []byte("before"))
	l1, err := c.CreateLink(ctxT(t), "/pub", client.LinkOptions{})
	if err != nil {
		t.Fatal(err)
	}
	l2, err := c.CreateLink(ctxT(t), "/pub", client.LinkOptions{})
	if err != nil {
		t.Fatal(err)
	}
	v1, _ := mustOpenLink(t, net, l1.URL, "")
	// What the holder of link 1 can keep: the folder key, from the URL and
	// the wraps the coordinator served.
	db := openMetaDB(t, net)
	oldKey := linkTargetKey(t, db, l1.URL)

	if _, err := c.RevokeLink(ctxT(t), l1.ID[:8]); err != nil {
		t.Fatal(err)
	}
	if _, err := v1.List(ctxT(t), "/"); !errors.Is(err, client.ErrUnauthorized) && !errors.Is(err, client.ErrLinkInvalid) {
		t.Fatalf("an open session of a revoked link: %v", err)
	}
	if _, _, err := openLink(t, net, l1.URL, "", true); !errors.Is(err, client.ErrLinkRevoked) {
		t.Fatalf("revoked link: %v", err)
	}
	putp(t, c, "/pub/new.txt", []byte("after"))

	// The other link reads old and new with the rotated key.
	v2, _ := mustOpenLink(t, net, l2.URL, "")
	if string(get(t, v2, "/new.txt")) != "after" || string(get(t, v2, "/old.txt")) != "before" {
		t.Fatal("the remaining link does not read the folder")
	}
	newKey := linkTargetKey(t, db, l2.URL)
	if newKey.Equal(oldKey) {
		t.Fatal("the folder key was not rotated")
	}
	// The old key opens neither the folder's metadata nor the new file's key.
	var folder, parent, meta []byte
	row := db.QueryRow(`SELECT e.id, e.parent, e.meta FROM entries e JOIN links l ON l.target = e.id WHERE l.id = ?`, linkID(t, l2.URL))
	if err := row.Scan(&folder, &parent, &meta); err != nil {
		t.Fatal(err)
	}
	owner := accountOf(t, db, folder)
	if _, err := keys.OpenMeta(oldKey, meta, owner, folder, parent, keys.KindFolder); err == nil {
		t.Fatal("the revoked key still opens the folder's metadata")
	}
	if _, err := keys.OpenMeta(newKey, meta, owner, folder, parent, keys.KindFolder); err != nil {
		t.Fatalf("the new key does not open the folder's metadata: %v", err)
	}
	rows, err := db.Query(`SELECT id, wrapped_key FROM entries WHERE parent = ?`, folder)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	n := 0
	for rows.Next() {
		var id, wrapped []byte
		if err := rows.Scan(&id, &wrapped); err != nil {
			t.Fatal(err)
		}
		if _, err := keys.Unwrap(oldKey, wrapped, keys.PurposeEntryKey, owner, keys.EntryObject(id, folder)); err == nil {
			t.Fatalf("the revoked key unwraps the key of entry %x", id)
		}
		if _, err := keys.Unwrap(newKey, wrapped, keys.PurposeEntryKey, owner, keys.EntryObject(id, folder)); err != nil {
			t.Fatalf("the new key does not unwrap entry %x: %v", id, err)
		}
		n++
	}
	if n != 2 {
		t.Fatalf("%d children, want 2", n)
	}
	// The owner's own tree still verifies from a new device.
	c2 := net.Login(t, c.Email())
	if string(get(t, c2, "/pub/old.txt")) != "before" {
		t.Fatal("the owner lost the file")
	}
}

func linkID(t *testing.T, url string) []byte {
	t.Helper()
	u, err := link.Parse(url)
	if err != nil {
		t.Fatal(err)
	}
	return u.ID[:]
}

// linkTargetKey derives, as a link holder does, the target key a link
// carries now: from the URL's secret and the wraps stored for the link.
func linkTargetKey(t *testing.T, db *sql.DB, url string) keys.Key {
	t.Helper()
	u, err := link.Parse(url)
	if err != nil {
		t.Fatal(err)
	}
	var owner, target, wl, wt []byte
	row := db.QueryRow(`SELECT account, target, wrapped_link_key, wrapped_target_key FROM links WHERE id = ?`, u.ID[:])
	if err := row.Scan(&owner, &target, &wl, &wt); err != nil {
		t.Fatal(err)
	}
	lk, err := link.Derive(u.ID, u.Secret, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	L, err := link.UnwrapLinkKey(lk.KEK, wl, [16]byte(owner), u.ID)
	if err != nil {
		t.Fatal(err)
	}
	k, err := link.UnwrapTarget(L, wt, [16]byte(owner), u.ID, [16]byte(target))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func accountOf(t *testing.T, db *sql.DB, entry []byte) []byte {
	t.Helper()
	var acct []byte
	if err := db.QueryRow(`SELECT account FROM entries WHERE id = ?`, entry).Scan(&acct); err != nil {
		t.Fatal(err)
	}
	return acct
}

package client_test

import (
	"bytes"
	"crypto/ecdh"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"strings"
	"testing"

	"github.com/nuage-storage/nuage/client"
	"github.com/nuage-storage/nuage/internal/crypto/keys"
	"github.com/nuage-storage/nuage/internal/share"
	"github.com/nuage-storage/nuage/internal/testnet"
)

func nameList(es []client.Entry) string {
	var out []string
	for _, e := range es {
		out = append(out, e.Name)
	}
	return strings.Join(out, " ")
}

func list(t *testing.T, c *client.Client, p string) []client.Entry {
	t.Helper()
	es, err := c.List(ctxT(t), p)
	if err != nil {
		t.Fatalf("ls %s: %v", p, err)
	}
	return es
}

func TestShareReadOnlyThenWrite(t *testing.T) {
	net := testnet.New(t, testnet.Options{})
	alice, bob := net.Signup(t), net.Signup(t)
	big := randBytes(t, 400<<10)
	putp(t, alice, "/team/plan.txt", []byte("the plan"))
	putp(t, alice, "/team/data/big.bin", big)
	putp(t, alice, "/private/diary.txt", []byte("dear diary"))

	sh, err := alice.ShareFolder(ctxT(t), "/team", bob.Email(), false)
	if err != nil {
		t.Fatal(err)
	}
	if !sh.FirstUse || sh.Fingerprint == "" || sh.Write {
		t.Fatalf("share %+v", sh)
	}
	in, err := bob.IncomingShares(ctxT(t))
	if err != nil || len(in) != 1 || in[0].Err != nil || in[0].Write || in[0].Name != "team" {
		t.Fatalf("incoming %+v %v", in, err)
	}
	base := "/shared/" + alice.Email() + "/team"
	if in[0].Path != base {
		t.Fatalf("path %q", in[0].Path)
	}
	if got := nameList(list(t, bob, "/shared")); got != alice.Email() {
		t.Fatalf("ls /shared: %q", got)
	}
	if got := nameList(list(t, bob, "/shared/"+alice.Email())); got != "team" {
		t.Fatalf("ls /shared/alice: %q", got)
	}
	es := list(t, bob, base)
	if nameList(es) != "data plan.txt" || es[1].Path != base+"/plan.txt" {
		t.Fatalf("ls share: %+v", es)
	}
	if string(get(t, bob, base+"/plan.txt")) != "the plan" || !bytes.Equal(get(t, bob, base+"/data/big.bin"), big) {
		t.Fatal("bob reads another content")
	}
	// Read-only: no writes, enforced by the client and the coordinator.
	_, err = bob.Put(ctxT(t), base+"/x.txt", strings.NewReader("x"), 1, nil)
	wantErr(t, "put into a read-only share", err, client.ErrReadOnly)
	if err := bob.Remove(ctxT(t), base+"/plan.txt", false); !errors.Is(err, client.ErrReadOnly) {
		t.Fatalf("rm in a read-only share: %v", err)
	}
	if _, err := bob.Mkdir(ctxT(t), "/shared/x", false); !errors.Is(err, client.ErrBadPath) {
		t.Fatalf("mkdir under /shared: %v", err)
	}

	// Upgrade to read-write: bob writes, alice sees and reads it all.
	if _, err := alice.ShareFolder(ctxT(t), "/team", bob.Email(), true); err != nil {
		t.Fatal(err)
	}
	bob2 := net.Login(t, bob.Email()) // a fresh device: the upgrade is what it reads
	bobBig := randBytes(t, 300<<10)
	put(t, bob2, base+"/from-bob.bin", bobBig)
	if _, err := bob2.Mkdir(ctxT(t), base+"/bobs", false); err != nil {
		t.Fatal(err)
	}
	put(t, bob2, base+"/bobs/note.txt", []byte("hi alice"))
	if _, err := bob2.Move(ctxT(t), base+"/bobs/note.txt", base+"/bobs/note2.txt", false); err != nil {
		t.Fatal(err)
	}
	if err := bob2.Remove(ctxT(t), base+"/plan.txt", false); err != nil {
		t.Fatal(err)
	}
	if _, err := bob2.Move(ctxT(t), base+"/data", "/mine", false); !errors.Is(err, client.ErrBadPath) {
		t.Fatalf("move out of a share: %v", err)
	}

	if got := nameList(list(t, alice, "/team")); got != "bobs data from-bob.bin" {
		t.Fatalf("alice sees %q", got)
	}
	if !bytes.Equal(get(t, alice, "/team/from-bob.bin"), bobBig) || string(get(t, alice, "/team/bobs/note2.txt")) != "hi alice" {
		t.Fatal("alice reads bob's files differently")
	}
	// A new device of alice's replays the journal, writer records included.
	alice2 := net.Login(t, alice.Email())
	if got := nameList(list(t, alice2, "/team/bobs")); got != "note2.txt" {
		t.Fatalf("alice's new device sees %q", got)
	}
	// Bob never sees beyond the share.
	if _, err := bob2.Stat(ctxT(t), "/shared/"+alice.Email()+"/private"); err == nil {
		t.Fatal("bob reached a folder that is not shared")
	}
	shares, err := alice.Shares(ctxT(t))
	if err != nil || len(shares) != 1 || !shares[0].Write || shares[0].Path != "/team" || shares[0].Email != bob.Email() {
		t.Fatalf("shares %+v %v", shares, err)
	}
}

func TestShareRevokeRotates(t *testing.T) {
	net := testnet.New(t, testnet.Options{})
	alice, bob, carol := net.Signup(t), net.Signup(t), net.Signup(t)
	putp(t, alice, "/team/a.txt", []byte("a"))
	for _, who := range []*client.Client{bob, carol} {
		if _, err := alice.ShareFolder(ctxT(t), "/team", who.Email(), true); err != nil {
			t.Fatal(err)
		}
	}
	base := "/shared/" + alice.Email() + "/team"
	put(t, bob, base+"/b.txt", []byte("b"))
	link, err := alice.CreateLink(ctxT(t), "/team/a.txt", client.LinkOptions{})
	if err != nil {
		t.Fatal(err)
	}

	if err := alice.RevokeShare(ctxT(t), "/team", bob.Email()); err != nil {
		t.Fatal(err)
	}
	// Bob's open session ends, and he cannot open a new one.
	if _, err := bob.List(ctxT(t), base); err == nil {
		t.Fatal("bob still lists the folder")
	}
	bob2 := net.Login(t, bob.Email())
	if in, err := bob2.IncomingShares(ctxT(t)); err != nil || len(in) != 0 {
		t.Fatalf("bob's shares after revocation: %+v %v", in, err)
	}
	if _, err := bob2.List(ctxT(t), base); !errors.Is(err, client.ErrNotFound) {
		t.Fatalf("bob lists after revocation: %v", err)
	}
	// Carol got the new keys: she reads old and new, and writes with her
	// new write key.
	putp(t, alice, "/team/after.txt", []byte("after"))
	carol2 := net.Login(t, carol.Email())
	if string(get(t, carol2, base+"/after.txt")) != "after" || string(get(t, carol2, base+"/b.txt")) != "b" {
		t.Fatal("carol cannot read after the rotation")
	}
	put(t, carol2, base+"/c.txt", []byte("c"))
	if string(get(t, alice, "/team/c.txt")) != "c" {
		t.Fatal("alice cannot read carol's file")
	}
	// The link to a file inside the rotated folder still works.
	v, _ := mustOpenLink(t, net, link.URL, "")
	if string(get(t, v, "/")) != "a" {
		t.Fatal("the link inside the rotated folder broke")
	}
	if got := nameList(list(t, net.Login(t, alice.Email()), "/team")); got != "a.txt after.txt b.txt c.txt" {
		t.Fatalf("alice's new device: %q", got)
	}
}

// TestShareKeySwap: a coordinator that serves another public key for a
// contact is caught, both by the owner (sharing) and by the recipient
// (opening shares).
func TestShareKeySwap(t *testing.T) {
	net := testnet.New(t, testnet.Options{})
	alice, bob := net.Signup(t), net.Signup(t)
	putp(t, alice, "/one/x.txt", []byte("x"))
	putp(t, alice, "/two/y.txt", []byte("y"))
	if _, err := alice.ShareFolder(ctxT(t), "/one", bob.Email(), false); err != nil {
		t.Fatal(err)
	}
	if in, err := bob.IncomingShares(ctxT(t)); err != nil || len(in) != 1 || in[0].Err != nil {
		t.Fatalf("incoming %+v %v", in, err)
	}
	fp, err := alice.Contact(ctxT(t), bob.Email())
	if err != nil || !fp.Pinned || fp.Changed || fp.Verified || fp.Fingerprint != bob.Fingerprint() {
		t.Fatalf("contact %+v %v (bob says %s)", fp, err, bob.Fingerprint())
	}

	db := openMetaDB(t, net)
	evil, err := ecdh.X25519().GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	var real []byte
	if err := db.QueryRow(`SELECT public_key FROM accounts WHERE email = ?`, bob.Email()).Scan(&real); err != nil {
		t.Fatal(err)
	}
	exec(t, db, `UPDATE accounts SET public_key = ? WHERE email = ?`, evil.PublicKey().Bytes(), bob.Email())
	_, err = alice.ShareFolder(ctxT(t), "/two", bob.Email(), false)
	wantErr(t, "share with a swapped key", err, client.ErrKeyChanged)
	c, err := alice.Contact(ctxT(t), bob.Email())
	if err != nil || !c.Changed {
		t.Fatalf("contact after the swap: %+v %v", c, err)
	}
	if _, err := alice.VerifyContact(ctxT(t), bob.Email(), bob.Fingerprint()); !errors.Is(err, client.ErrKeyChanged) {
		t.Fatalf("verify with bob's real fingerprint against the swapped key: %v", err)
	}
	exec(t, db, `UPDATE accounts SET public_key = ? WHERE email = ?`, real, bob.Email())

	// The recipient side: another signing key served for alice.
	evilPub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	exec(t, db, `UPDATE accounts SET signing_key = ? WHERE email = ?`, []byte(evilPub), alice.Email())
	in, err := bob.IncomingShares(ctxT(t))
	if err != nil || len(in) != 1 || !errors.Is(in[0].Err, client.ErrKeyChanged) {
		t.Fatalf("incoming with a swapped owner key: %+v %v", in, err)
	}
	if _, err := bob.List(ctxT(t), "/shared/"+alice.Email()+"/one"); !errors.Is(err, client.ErrKeyChanged) {
		t.Fatalf("ls with a swapped owner key: %v", err)
	}
}

// TestShareForged: a coordinator cannot plant a share that claims to come
// from someone the recipient knows: it cannot sign as them.
func TestShareForged(t *testing.T) {
	net := testnet.New(t, testnet.Options{})
	alice, bob := net.Signup(t), net.Signup(t)
	putp(t, alice, "/real/x.txt", []byte("x"))
	sh, err := alice.ShareFolder(ctxT(t), "/real", bob.Email(), false)
	if err != nil {
		t.Fatal(err)
	}
	if in, err := bob.IncomingShares(ctxT(t)); err != nil || len(in) != 1 || in[0].Err != nil {
		t.Fatalf("incoming %+v %v", in, err)
	}
	// The attacker re-seals the share to bob's real key with a folder key
	// of its own, signed with a key it holds.
	db := openMetaDB(t, net)
	var owner, recipient, root []byte
	if err := db.QueryRow(`SELECT owner, recipient, root FROM shares WHERE id = ?`, idBytes(t, sh.ID)).Scan(&owner, &recipient, &root); err != nil {
		t.Fatal(err)
	}
	var bobPub []byte
	if err := db.QueryRow(`SELECT public_key FROM accounts WHERE id = ?`, recipient).Scan(&bobPub); err != nil {
		t.Fatal(err)
	}
	pk, err := ecdh.X25519().NewPublicKey(bobPub)
	if err != nil {
		t.Fatal(err)
	}
	_, evilSign, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	fake, err := keys.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	forged, err := share.Seal(share.Payload{ShareID: [16]byte(idBytes(t, sh.ID)), Owner: [16]byte(owner), Recipient: [16]byte(recipient),
		Root: [16]byte(root), Level: share.Read, Epoch: 9, RootKey: fake, Name: "real"}, evilSign, pk)
	if err != nil {
		t.Fatal(err)
	}
	exec(t, db, `UPDATE shares SET sealed = ? WHERE id = ?`, forged, idBytes(t, sh.ID))
	in, err := bob.IncomingShares(ctxT(t))
	if err != nil || len(in) != 1 || !errors.Is(in[0].Err, client.ErrTampered) {
		t.Fatalf("forged share: %+v %v", in, err)
	}
}

// TestShareSessionsBelongToTheRecipient: a recipient's password change ends
// the share sessions it opened; the owner's does not end them.
func TestShareSessionsBelongToTheRecipient(t *testing.T) {
	net := testnet.New(t, testnet.Options{})
	alice, bob := net.Signup(t), net.Signup(t)
	putp(t, alice, "/team/a.txt", []byte("a"))
	if _, err := alice.ShareFolder(ctxT(t), "/team", bob.Email(), false); err != nil {
		t.Fatal(err)
	}
	base := "/shared/" + alice.Email() + "/team"
	thief := net.Login(t, bob.Email()) // a session bob no longer trusts
	list(t, thief, base)
	kdf := testnet.CheapKDF()
	if err := alice.ChangePassword(ctxT(t), []byte(testnet.Password), []byte("alice's new password"), &kdf); err != nil {
		t.Fatal(err)
	}
	list(t, thief, base) // the owner's change leaves recipients' sessions
	if err := bob.ChangePassword(ctxT(t), []byte(testnet.Password), []byte("bob's new password"), &kdf); err != nil {
		t.Fatal(err)
	}
	if _, err := thief.List(ctxT(t), base); !errors.Is(err, client.ErrUnauthorized) {
		t.Fatalf("a share session opened by an ended login: %v", err)
	}
}

// TestShareBrokenBeside: a share that cannot be opened does not hide the
// others of the same owner, and is reported when asked for.
func TestShareBrokenBeside(t *testing.T) {
	net := testnet.New(t, testnet.Options{})
	alice, bob := net.Signup(t), net.Signup(t)
	putp(t, alice, "/one/x.txt", []byte("x"))
	putp(t, alice, "/two/y.txt", []byte("y"))
	one, err := alice.ShareFolder(ctxT(t), "/one", bob.Email(), false)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := alice.ShareFolder(ctxT(t), "/two", bob.Email(), false); err != nil {
		t.Fatal(err)
	}
	db := openMetaDB(t, net)
	var sealed []byte
	if err := db.QueryRow(`SELECT sealed FROM shares WHERE id = ?`, idBytes(t, one.ID)).Scan(&sealed); err != nil {
		t.Fatal(err)
	}
	sealed[len(sealed)-1] ^= 1
	exec(t, db, `UPDATE shares SET sealed = ? WHERE id = ?`, sealed, idBytes(t, one.ID))
	base := "/shared/" + alice.Email()
	if string(get(t, bob, base+"/two/y.txt")) != "y" {
		t.Fatal("the intact share reads differently")
	}
	if _, err := bob.List(ctxT(t), base+"/one"); !errors.Is(err, client.ErrTampered) {
		t.Fatalf("the damaged share: %v", err)
	}
	if got := nameList(list(t, bob, base)); got != "two" {
		t.Fatalf("ls %s: %q", base, got)
	}
}

package order

import (
	"bytes"
	"crypto/ed25519"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/nuage-storage/nuage/internal/identity"
	"github.com/nuage-storage/nuage/internal/piece"
)

var update = flag.Bool("update", false, "rewrite testdata/order/vectors.json from the generator")

var vectorsPath = filepath.Join("..", "..", "testdata", "order", "vectors.json")

// The vector file's shape. Hex is lowercase; times are Unix seconds.
type vectorFile struct {
	Comment  []string        `json:"comment"`
	Keys     []vectorKey     `json:"keys"`
	Orders   []orderVector   `json:"orders"`
	Checks   []checkVector   `json:"checks"`
	Receipts []receiptVector `json:"receipts"`
}

type vectorKey struct {
	Name string `json:"name"`
	Seed string `json:"seed"`
	ID   string `json:"id"`
}

type orderVector struct {
	Name        string  `json:"name"`
	Signer      string  `json:"signer,omitempty"`
	Action      string  `json:"action,omitempty"`
	Node        string  `json:"node,omitempty"`
	Piece       string  `json:"piece,omitempty"`
	Size        *uint64 `json:"size,omitempty"`
	Expires     int64   `json:"expires,omitempty"`
	Serial      string  `json:"serial,omitempty"`
	Coordinator string  `json:"coordinator,omitempty"`
	Encoding    string  `json:"encoding"`
	Error       string  `json:"error,omitempty"`
}

type checkVector struct {
	Name    string   `json:"name"`
	Order   string   `json:"order"`
	Now     int64    `json:"now"`
	Self    string   `json:"self"`
	Action  string   `json:"action"`
	Piece   string   `json:"piece"`
	Trusted []string `json:"trusted"`
	Error   string   `json:"error,omitempty"`
}

type receiptVector struct {
	Name     string  `json:"name"`
	Signer   string  `json:"signer,omitempty"`
	Node     string  `json:"node,omitempty"`
	Piece    string  `json:"piece,omitempty"`
	Size     *uint64 `json:"size,omitempty"`
	Serial   string  `json:"serial,omitempty"`
	StoredAt int64   `json:"stored_at,omitempty"`
	Encoding string  `json:"encoding"`
	Order    string  `json:"order,omitempty"`
	Matches  *bool   `json:"matches,omitempty"`
	Error    string  `json:"error,omitempty"`
}

// vectorErrors names every error a vector may expect.
var vectorErrors = map[string]error{
	"ErrMalformed":    ErrMalformed,
	"ErrBadSignature": ErrBadSignature,
	"ErrExpired":      ErrExpired,
	"ErrUntrusted":    ErrUntrusted,
	"ErrWrongNode":    ErrWrongNode,
	"ErrWrongPiece":   ErrWrongPiece,
	"ErrWrongAction":  ErrWrongAction,
}

func errorName(err error) string {
	if err == nil {
		return ""
	}
	for name, e := range vectorErrors {
		if errors.Is(err, e) {
			return name
		}
	}
	panic(fmt.Sprintf("unnamed error %v", err))
}

var actionNames = map[string]Action{"PUT": Put, "GET": Get, "DELETE": Delete}

type vectorKeys struct {
	byName map[string]*identity.Identity
	list   []vectorKey
}

func newVectorKeys() *vectorKeys {
	k := &vectorKeys{byName: map[string]*identity.Identity{}}
	for _, e := range []struct {
		name  string
		first byte
	}{{"coordinator", 0x00}, {"node", 0x20}, {"other-coordinator", 0x40}, {"other-node", 0x60}} {
		id := seeded(e.first)
		k.byName[e.name] = id
		k.list = append(k.list, vectorKey{Name: e.name, Seed: hex.EncodeToString(id.PrivateKey().Seed()), ID: id.ID().String()})
	}
	return k
}

func hexs(b []byte) string { return hex.EncodeToString(b) }

// generateVectors builds the vector file deterministically: fixed seeds,
// fixed fields, and Ed25519's deterministic signatures.
func generateVectors() *vectorFile {
	keys := newVectorKeys()
	coord, nd := keys.byName["coordinator"], keys.byName["node"]
	other, otherNd := keys.byName["other-coordinator"], keys.byName["other-node"]
	v := &vectorFile{
		Comment: []string{
			"nuage v1 order and receipt vectors (docs/spec.md §5 and §6). Hex is lowercase; times are Unix seconds.",
			"keys: Ed25519 identities from 32-byte seeds; id is the public key.",
			"orders: encoding = version 0x01 || action || node || piece || uint64 size || int64 expires || serial || coordinator || Ed25519(signer, \"nuage-order-v1\" || 0x00 || bytes[0:130]). Successes list the fields, the signer (a key name) and the encoding; failures list only the encoding and the error Parse must return.",
			"checks: parse the named order, then check it at time now for node self, the request's action and piece, trusting only the listed coordinators; error is the expected failure, absent when the order must be accepted (60 s clock skew past expires is allowed).",
			"receipts: encoding = version 0x01 || node || piece || uint64 size || serial || int64 stored_at || Ed25519(signer, \"nuage-receipt-v1\" || 0x00 || bytes[0:97]). matches says whether the receipt acknowledges exactly the named order (same node, piece, size and serial).",
			"Errors: ErrMalformed = wrong length, version or action; ErrBadSignature = signature does not verify under the key the encoding names; ErrUntrusted, ErrWrongNode, ErrWrongPiece, ErrWrongAction, ErrExpired = Check failures.",
		},
		Keys: keys.list,
	}

	put := testOrder(Put)
	putEnc := put.Sign(coord)
	addOrder := func(name, signer string, o Order, enc []byte) {
		v.Orders = append(v.Orders, orderVector{
			Name: name, Signer: signer, Action: o.Action.String(), Node: o.Node.String(), Piece: o.Piece.String(),
			Size: &o.Size, Expires: o.Expires.Unix(), Serial: hexs(o.Serial[:]), Coordinator: o.Coordinator.String(),
			Encoding: hexs(enc),
		})
	}
	addOrder("put", "coordinator", put, putEnc)
	get := testOrder(Get)
	addOrder("get", "coordinator", get, get.Sign(coord))
	del := testOrder(Delete)
	addOrder("delete", "coordinator", del, del.Sign(coord))
	fromOther := testOrder(Put)
	addOrder("put signed by another coordinator", "other-coordinator", fromOther, fromOther.Sign(other))

	fail := func(name string, b []byte) {
		_, err := Parse(b)
		v.Orders = append(v.Orders, orderVector{Name: name, Encoding: hexs(b), Error: errorName(err)})
	}
	edited := func(i int, x byte) []byte {
		b := bytes.Clone(putEnc)
		b[i] = x
		return resign(b, specOrderContext, coord)
	}
	flipped := bytes.Clone(putEnc)
	flipped[130] ^= 0x01
	fail("bad signature", flipped)
	tampered := bytes.Clone(putEnc)
	tampered[73] ^= 0x01 // size + 1, signature unchanged
	fail("size changed after signing", tampered)
	fail("signature by another key", resign(putEnc, specOrderContext, other))
	fail("truncated", putEnc[:Size-1])
	fail("too long", append(bytes.Clone(putEnc), 0))
	fail("empty", []byte{})
	fail("wrong version", edited(0, 0x02))
	fail("unknown action 0", edited(1, 0x00))
	fail("unknown action 4", edited(1, 0x04))

	addCheck := func(name, order string, now time.Time, self identity.ID, action Action, p piece.ID, trusted ...identity.ID) {
		o, err := Parse(putEnc)
		if order == "put signed by another coordinator" {
			o, err = Parse(fromOther.Marshal())
		}
		if err != nil {
			panic(err)
		}
		c := checkVector{Name: name, Order: order, Now: now.Unix(), Self: self.String(), Action: action.String(), Piece: p.String(), Trusted: []string{}}
		for _, id := range trusted {
			c.Trusted = append(c.Trusted, id.String())
		}
		c.Error = errorName(o.Check(now, self, action, p, trusts(trusted...)))
		v.Checks = append(v.Checks, c)
	}
	before := testExpires.Add(-time.Hour)
	addCheck("valid", "put", before, nd.ID(), Put, testPiece, coord.ID())
	addCheck("valid at expiry", "put", testExpires, nd.ID(), Put, testPiece, coord.ID())
	addCheck("valid at expiry plus 60 s skew", "put", testExpires.Add(60*time.Second), nd.ID(), Put, testPiece, coord.ID())
	addCheck("expired at expiry plus 61 s", "put", testExpires.Add(61*time.Second), nd.ID(), Put, testPiece, coord.ID())
	addCheck("untrusted coordinator", "put signed by another coordinator", before, nd.ID(), Put, testPiece, coord.ID())
	addCheck("trusted second coordinator", "put signed by another coordinator", before, nd.ID(), Put, testPiece, coord.ID(), other.ID())
	addCheck("wrong node", "put", before, otherNd.ID(), Put, testPiece, coord.ID())
	addCheck("wrong piece", "put", before, nd.ID(), Put, otherPiece, coord.ID())
	addCheck("wrong action", "put", before, nd.ID(), Get, testPiece, coord.ID())

	r := testReceipt()
	rEnc := r.Sign(nd)
	yes, no := true, false
	addReceipt := func(name, signer string, r Receipt, enc []byte, matches *bool) {
		v.Receipts = append(v.Receipts, receiptVector{
			Name: name, Signer: signer, Node: r.Node.String(), Piece: r.Piece.String(), Size: &r.Size,
			Serial: hexs(r.Serial[:]), StoredAt: r.StoredAt.Unix(), Encoding: hexs(enc), Order: "put", Matches: matches,
		})
	}
	addReceipt("receipt for put", "node", r, rEnc, &yes)
	otherSerial := testReceipt()
	otherSerial.Serial[0] ^= 0xff
	addReceipt("receipt with another serial", "node", otherSerial, otherSerial.Sign(nd), &no)
	otherSize := testReceipt()
	otherSize.Size--
	addReceipt("receipt with another size", "node", otherSize, otherSize.Sign(nd), &no)
	byOtherNode := testReceipt()
	addReceipt("receipt by another node", "other-node", byOtherNode, byOtherNode.Sign(otherNd), &no)

	failReceipt := func(name string, b []byte) {
		_, err := ParseReceipt(b)
		v.Receipts = append(v.Receipts, receiptVector{Name: name, Encoding: hexs(b), Error: errorName(err)})
	}
	rFlipped := bytes.Clone(rEnc)
	rFlipped[97] ^= 0x01
	failReceipt("bad signature", rFlipped)
	failReceipt("signature by another key", resign(rEnc, specReceiptContext, otherNd))
	failReceipt("truncated", rEnc[:ReceiptSize-1])
	failReceipt("too long", append(bytes.Clone(rEnc), 0))
	rVersion := bytes.Clone(rEnc)
	rVersion[0] = 0x02
	failReceipt("wrong version", resign(rVersion, specReceiptContext, nd))
	return v
}

func encodeVectors(v *vectorFile) []byte {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		panic(err)
	}
	return append(b, '\n')
}

func TestVectorsUpToDate(t *testing.T) {
	want := encodeVectors(generateVectors())
	if *update {
		if err := os.MkdirAll(filepath.Dir(vectorsPath), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(vectorsPath, want, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	got, err := os.ReadFile(vectorsPath)
	if err != nil {
		t.Fatalf("%v (run go test ./internal/order -run TestVectorsUpToDate -update)", err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("%s differs from what the generator makes; the format changed or the file was edited", vectorsPath)
	}
}

func mustHex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatalf("bad hex %q: %v", s, err)
	}
	return b
}

func mustID(t *testing.T, s string) identity.ID {
	t.Helper()
	id, err := identity.ParseID(s)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func mustPiece(t *testing.T, s string) piece.ID {
	t.Helper()
	p, err := piece.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func wantError(t *testing.T, name string) error {
	t.Helper()
	e, ok := vectorErrors[name]
	if !ok {
		t.Fatalf("vector names unknown error %q", name)
	}
	return e
}

// TestVectors checks the implementation against the vector file on its
// own terms: it rebuilds every encoding from the listed fields and keys.
func TestVectors(t *testing.T) {
	raw, err := os.ReadFile(vectorsPath)
	if err != nil {
		t.Fatal(err)
	}
	var v vectorFile
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&v); err != nil {
		t.Fatal(err)
	}
	keys := map[string]*identity.Identity{}
	for _, k := range v.Keys {
		seed := mustHex(t, k.Seed)
		if len(seed) != ed25519.SeedSize {
			t.Fatalf("key %s: seed has %d bytes", k.Name, len(seed))
		}
		id := identity.FromPrivateKey(ed25519.NewKeyFromSeed(seed))
		if id.ID().String() != k.ID {
			t.Fatalf("key %s: seed gives %s, file says %s", k.Name, id.ID(), k.ID)
		}
		keys[k.Name] = id
	}

	orders := map[string]Order{}
	var failures, successes int
	for _, ov := range v.Orders {
		enc := mustHex(t, ov.Encoding)
		if ov.Error != "" {
			failures++
			if _, err := Parse(enc); !errors.Is(err, wantError(t, ov.Error)) {
				t.Errorf("order %q: Parse = %v, want %s", ov.Name, err, ov.Error)
			}
			continue
		}
		successes++
		signer, ok := keys[ov.Signer]
		if !ok {
			t.Fatalf("order %q: unknown signer %q", ov.Name, ov.Signer)
		}
		action, ok := actionNames[ov.Action]
		if !ok {
			t.Fatalf("order %q: unknown action %q", ov.Name, ov.Action)
		}
		if ov.Size == nil {
			t.Fatalf("order %q: no size", ov.Name)
		}
		o := Order{Action: action, Node: mustID(t, ov.Node), Piece: mustPiece(t, ov.Piece), Size: *ov.Size, Expires: time.Unix(ov.Expires, 0)}
		copy(o.Serial[:], mustHex(t, ov.Serial))
		if got := o.Sign(signer); !bytes.Equal(got, enc) {
			t.Errorf("order %q: Sign gives\n%x\nwant\n%x", ov.Name, got, enc)
		}
		if o.Coordinator != mustID(t, ov.Coordinator) {
			t.Errorf("order %q: coordinator %s, want %s", ov.Name, o.Coordinator, ov.Coordinator)
		}
		p, err := Parse(enc)
		if err != nil {
			t.Errorf("order %q: Parse: %v", ov.Name, err)
			continue
		}
		if p.Action != o.Action || p.Node != o.Node || p.Piece != o.Piece || p.Size != o.Size ||
			p.Expires.Unix() != ov.Expires || p.Serial != o.Serial || p.Coordinator != o.Coordinator {
			t.Errorf("order %q: Parse returned %+v", ov.Name, p)
		}
		orders[ov.Name] = p
	}
	if successes == 0 || failures == 0 {
		t.Fatalf("vectors hold %d valid and %d failing orders; want both", successes, failures)
	}

	for _, cv := range v.Checks {
		o, ok := orders[cv.Order]
		if !ok {
			t.Fatalf("check %q: unknown order %q", cv.Name, cv.Order)
		}
		var trusted []identity.ID
		for _, s := range cv.Trusted {
			trusted = append(trusted, mustID(t, s))
		}
		err := o.Check(time.Unix(cv.Now, 0), mustID(t, cv.Self), actionNames[cv.Action], mustPiece(t, cv.Piece), trusts(trusted...))
		if cv.Error == "" {
			if err != nil {
				t.Errorf("check %q: %v", cv.Name, err)
			}
		} else if !errors.Is(err, wantError(t, cv.Error)) {
			t.Errorf("check %q: Check = %v, want %s", cv.Name, err, cv.Error)
		}
	}

	failures, successes = 0, 0
	for _, rv := range v.Receipts {
		enc := mustHex(t, rv.Encoding)
		if rv.Error != "" {
			failures++
			if _, err := ParseReceipt(enc); !errors.Is(err, wantError(t, rv.Error)) {
				t.Errorf("receipt %q: ParseReceipt = %v, want %s", rv.Name, err, rv.Error)
			}
			continue
		}
		successes++
		signer, ok := keys[rv.Signer]
		if !ok {
			t.Fatalf("receipt %q: unknown signer %q", rv.Name, rv.Signer)
		}
		if rv.Size == nil {
			t.Fatalf("receipt %q: no size", rv.Name)
		}
		r := Receipt{Piece: mustPiece(t, rv.Piece), Size: *rv.Size, StoredAt: time.Unix(rv.StoredAt, 0)}
		copy(r.Serial[:], mustHex(t, rv.Serial))
		if got := r.Sign(signer); !bytes.Equal(got, enc) {
			t.Errorf("receipt %q: Sign gives\n%x\nwant\n%x", rv.Name, got, enc)
		}
		if r.Node != mustID(t, rv.Node) {
			t.Errorf("receipt %q: node %s, want %s", rv.Name, r.Node, rv.Node)
		}
		p, err := ParseReceipt(enc)
		if err != nil {
			t.Errorf("receipt %q: ParseReceipt: %v", rv.Name, err)
			continue
		}
		if p.Node != r.Node || p.Piece != r.Piece || p.Size != r.Size || p.Serial != r.Serial || p.StoredAt.Unix() != rv.StoredAt {
			t.Errorf("receipt %q: ParseReceipt returned %+v", rv.Name, p)
		}
		if rv.Matches != nil {
			o, ok := orders[rv.Order]
			if !ok {
				t.Fatalf("receipt %q: unknown order %q", rv.Name, rv.Order)
			}
			if p.Matches(&o) != *rv.Matches {
				t.Errorf("receipt %q: Matches = %v, want %v", rv.Name, !*rv.Matches, *rv.Matches)
			}
		}
	}
	if successes == 0 || failures == 0 {
		t.Fatalf("vectors hold %d valid and %d failing receipts; want both", successes, failures)
	}
}

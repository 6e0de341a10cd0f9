package order

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/nuage-storage/nuage/internal/identity"
	"github.com/nuage-storage/nuage/internal/piece"
)

// Signing contexts as docs/spec.md states them, spelled out here rather
// than taken from the package so that a change to either is caught.
const (
	specOrderContext   = "nuage-order-v1\x00"
	specReceiptContext = "nuage-receipt-v1\x00"
)

// seeded returns the identity whose Ed25519 seed is first, first+1, …, first+31.
func seeded(first byte) *identity.Identity {
	seed := make([]byte, ed25519.SeedSize)
	for i := range seed {
		seed[i] = first + byte(i)
	}
	return identity.FromPrivateKey(ed25519.NewKeyFromSeed(seed))
}

var (
	coordinator      = seeded(0x00)
	node             = seeded(0x20)
	otherCoordinator = seeded(0x40)
	otherNode        = seeded(0x60)
	testPiece        = piece.Sum([]byte("nuage order test vector piece"))
	otherPiece       = piece.Sum([]byte("another piece"))
	testExpires      = time.Unix(1763803600, 0)
	testSerial       = [SerialSize]byte{0xa0, 0xa1, 0xa2, 0xa3, 0xa4, 0xa5, 0xa6, 0xa7, 0xa8, 0xa9, 0xaa, 0xab, 0xac, 0xad, 0xae, 0xaf}
)

func raw(id identity.ID) []byte { return id[:] }

func testOrder(action Action) Order {
	o := Order{Action: action, Node: node.ID(), Piece: testPiece, Size: 1 << 20, Expires: testExpires, Serial: testSerial}
	if action == Delete {
		o.Size = 0
	}
	return o
}

func trusts(ids ...identity.ID) func(identity.ID) bool {
	return func(id identity.ID) bool {
		for _, t := range ids {
			if t == id {
				return true
			}
		}
		return false
	}
}

// resign replaces the signature of an encoded order or receipt with one by
// signer over its (possibly edited) body, so that only the edit is wrong.
func resign(b []byte, context string, signer *identity.Identity) []byte {
	n := len(b) - ed25519.SignatureSize
	out := bytes.Clone(b)
	copy(out[n:], signer.Sign(append([]byte(context), out[:n]...)))
	return out
}

func TestSignParseRoundTrip(t *testing.T) {
	for _, action := range []Action{Put, Get, Delete} {
		t.Run(action.String(), func(t *testing.T) {
			o := testOrder(action)
			enc := o.Sign(coordinator)
			if len(enc) != Size {
				t.Fatalf("encoding has %d bytes, want %d", len(enc), Size)
			}
			if o.Coordinator != coordinator.ID() {
				t.Fatal("Sign did not set Coordinator")
			}
			if !bytes.Equal(o.Marshal(), enc) {
				t.Fatal("Marshal differs from Sign's encoding")
			}
			// Layout of spec §5, field by field.
			if enc[0] != 1 || enc[1] != byte(action) ||
				!bytes.Equal(enc[2:34], o.Node[:]) || !bytes.Equal(enc[34:66], o.Piece[:]) ||
				binary.BigEndian.Uint64(enc[66:74]) != o.Size ||
				int64(binary.BigEndian.Uint64(enc[74:82])) != testExpires.Unix() ||
				!bytes.Equal(enc[82:98], testSerial[:]) || !bytes.Equal(enc[98:130], raw(coordinator.ID())) {
				t.Fatalf("encoding does not follow spec §5: %x", enc)
			}
			if !ed25519.Verify(coordinator.ID().PublicKey(), append([]byte(specOrderContext), enc[:130]...), enc[130:]) {
				t.Fatal("signature is not over \"nuage-order-v1\" || 0x00 || bytes[0:130]")
			}

			// As carried in the Nuage-Order header.
			hdr := base64.RawURLEncoding.EncodeToString(enc)
			raw, err := base64.RawURLEncoding.DecodeString(hdr)
			if err != nil {
				t.Fatal(err)
			}
			got, err := Parse(raw)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if got.Action != o.Action || got.Node != o.Node || got.Piece != o.Piece || got.Size != o.Size ||
				!got.Expires.Equal(o.Expires) || got.Serial != o.Serial || got.Coordinator != o.Coordinator || got.Signature != o.Signature {
				t.Fatalf("Parse returned %+v, want %+v", got, o)
			}
			if !bytes.Equal(got.Marshal(), enc) {
				t.Fatal("Marshal of the parsed order differs")
			}
			if err := got.Check(testExpires.Add(-time.Minute), node.ID(), action, testPiece, trusts(coordinator.ID())); err != nil {
				t.Fatalf("Check: %v", err)
			}
		})
	}
	if Header != "Nuage-Order" {
		t.Fatalf("Header = %q", Header)
	}
}

func TestNew(t *testing.T) {
	before := time.Now()
	a := New(Put, node.ID(), testPiece, 42, time.Hour)
	b := New(Put, node.ID(), testPiece, 42, time.Hour)
	after := time.Now()
	if a.Serial == b.Serial || a.Serial == ([SerialSize]byte{}) {
		t.Fatalf("serials are not random: %x %x", a.Serial, b.Serial)
	}
	if a.Action != Put || a.Node != node.ID() || a.Piece != testPiece || a.Size != 42 {
		t.Fatalf("New set %+v", a)
	}
	if a.Expires.Nanosecond() != 0 {
		t.Fatalf("Expires %v is not whole seconds", a.Expires)
	}
	lo, hi := before.Add(time.Hour).Add(-time.Second), after.Add(time.Hour)
	if a.Expires.Before(lo) || a.Expires.After(hi) {
		t.Fatalf("Expires %v not in [%v, %v]", a.Expires, lo, hi)
	}
	// Whole seconds survive the encoding unchanged.
	got, err := Parse(a.Sign(coordinator))
	if err != nil {
		t.Fatal(err)
	}
	if !got.Expires.Equal(a.Expires) {
		t.Fatalf("Expires %v came back as %v", a.Expires, got.Expires)
	}
}

func TestActionString(t *testing.T) {
	for a, want := range map[Action]string{Put: "PUT", Get: "GET", Delete: "DELETE", 0: "action(0)", 9: "action(9)"} {
		if got := a.String(); got != want {
			t.Errorf("Action(%d).String() = %q, want %q", uint8(a), got, want)
		}
	}
}

func TestCheck(t *testing.T) {
	o := testOrder(Put)
	parsed, err := Parse(o.Sign(coordinator))
	if err != nil {
		t.Fatal(err)
	}
	valid := testExpires.Add(-30 * time.Second)
	tests := []struct {
		name    string
		now     time.Time
		self    identity.ID
		action  Action
		piece   piece.ID
		trusted func(identity.ID) bool
		want    error
	}{
		{"valid", valid, node.ID(), Put, testPiece, trusts(coordinator.ID()), nil},
		{"valid among several trusted", valid, node.ID(), Put, testPiece, trusts(otherCoordinator.ID(), coordinator.ID()), nil},
		{"untrusted", valid, node.ID(), Put, testPiece, trusts(otherCoordinator.ID()), ErrUntrusted},
		{"nobody trusted", valid, node.ID(), Put, testPiece, trusts(), ErrUntrusted},
		{"wrong node", valid, otherNode.ID(), Put, testPiece, trusts(coordinator.ID()), ErrWrongNode},
		{"wrong piece", valid, node.ID(), Put, otherPiece, trusts(coordinator.ID()), ErrWrongPiece},
		{"wrong action GET", valid, node.ID(), Get, testPiece, trusts(coordinator.ID()), ErrWrongAction},
		{"wrong action DELETE", valid, node.ID(), Delete, testPiece, trusts(coordinator.ID()), ErrWrongAction},
		{"expired", testExpires.Add(time.Hour), node.ID(), Put, testPiece, trusts(coordinator.ID()), ErrExpired},
		{"long expired", time.Unix(1<<40, 0), node.ID(), Put, testPiece, trusts(coordinator.ID()), ErrExpired},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := parsed.Check(tt.now, tt.self, tt.action, tt.piece, tt.trusted)
			if tt.want == nil {
				if err != nil {
					t.Fatalf("Check: %v", err)
				}
				return
			}
			if !errors.Is(err, tt.want) {
				t.Fatalf("Check = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestCheckClockSkew(t *testing.T) {
	o := testOrder(Get)
	o.Sign(coordinator)
	tests := []struct {
		now     time.Time
		expired bool
	}{
		{testExpires.Add(-time.Hour), false},
		{testExpires, false},
		{testExpires.Add(time.Second), false},
		{testExpires.Add(MaxClockSkew - time.Nanosecond), false},
		{testExpires.Add(MaxClockSkew), false},
		{testExpires.Add(MaxClockSkew + time.Nanosecond), true},
		{testExpires.Add(MaxClockSkew + time.Second), true},
	}
	if MaxClockSkew != 60*time.Second {
		t.Fatalf("MaxClockSkew = %v, spec §5 allows 60 s", MaxClockSkew)
	}
	for _, tt := range tests {
		err := o.Check(tt.now, node.ID(), Get, testPiece, trusts(coordinator.ID()))
		if tt.expired != errors.Is(err, ErrExpired) || !tt.expired && err != nil {
			t.Errorf("now = expires%+v: err = %v, want expired %v", tt.now.Sub(testExpires), err, tt.expired)
		}
	}
}

func TestParseMalformed(t *testing.T) {
	o := testOrder(Put)
	enc := o.Sign(coordinator)
	edit := func(i int, v byte) []byte {
		b := bytes.Clone(enc)
		b[i] = v
		return resign(b, specOrderContext, coordinator)
	}
	tests := []struct {
		name string
		b    []byte
		want error
	}{
		{"empty", nil, ErrMalformed},
		{"one byte", []byte{1}, ErrMalformed},
		{"truncated", enc[:Size-1], ErrMalformed},
		{"body only", enc[:130], ErrMalformed},
		{"too long", append(bytes.Clone(enc), 0), ErrMalformed},
		{"version 0", edit(0, 0), ErrMalformed},
		{"version 2", edit(0, 2), ErrMalformed},
		{"action 0", edit(1, 0), ErrMalformed},
		{"action 4", edit(1, 4), ErrMalformed},
		{"action 255", edit(1, 255), ErrMalformed},
		{"signature by another key", resign(enc, specOrderContext, otherCoordinator), ErrBadSignature},
		{"signature over the receipt context", resign(enc, specReceiptContext, coordinator), ErrBadSignature},
		{"signature without context", resign(enc, "", coordinator), ErrBadSignature},
		{"zero signature", append(bytes.Clone(enc[:130]), make([]byte, 64)...), ErrBadSignature},
		{"zero coordinator", func() []byte { b := bytes.Clone(enc); clear(b[98:130]); return b }(), ErrBadSignature},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := Parse(tt.b); !errors.Is(err, tt.want) {
				t.Fatalf("Parse = %v, want %v", err, tt.want)
			}
		})
	}
	// Control: the same edit helper with the original byte is accepted.
	if _, err := Parse(edit(1, byte(Put))); err != nil {
		t.Fatalf("re-signed unchanged order: %v", err)
	}
}

// TestEveryByteFlipped flips every bit pattern of every byte of an order:
// the result must never pass both Parse and Check.
func TestEveryByteFlipped(t *testing.T) {
	for _, action := range []Action{Put, Get, Delete} {
		o := testOrder(action)
		enc := o.Sign(coordinator)
		now := testExpires.Add(-time.Minute)
		for i := range enc {
			for _, mask := range []byte{0x01, 0x02, 0x10, 0x80, 0xff} {
				b := bytes.Clone(enc)
				b[i] ^= mask
				p, err := Parse(b)
				if err != nil {
					continue
				}
				if err := p.Check(now, node.ID(), action, testPiece, trusts(coordinator.ID())); err == nil {
					t.Fatalf("%s order with byte %d ^ %#02x passes Parse and Check", action, i, mask)
				}
			}
		}
	}
}

func testReceipt() Receipt {
	return Receipt{Piece: testPiece, Size: 1 << 20, Serial: testSerial, StoredAt: time.Unix(1763800100, 0)}
}

func TestReceiptRoundTrip(t *testing.T) {
	r := testReceipt()
	enc := r.Sign(node)
	if len(enc) != ReceiptSize {
		t.Fatalf("receipt has %d bytes, want %d", len(enc), ReceiptSize)
	}
	if r.Node != node.ID() {
		t.Fatal("Sign did not set Node")
	}
	if !bytes.Equal(r.Marshal(), enc) {
		t.Fatal("Marshal differs from Sign's encoding")
	}
	if enc[0] != 1 || !bytes.Equal(enc[1:33], raw(node.ID())) || !bytes.Equal(enc[33:65], testPiece[:]) ||
		binary.BigEndian.Uint64(enc[65:73]) != r.Size || !bytes.Equal(enc[73:89], testSerial[:]) ||
		int64(binary.BigEndian.Uint64(enc[89:97])) != r.StoredAt.Unix() {
		t.Fatalf("receipt does not follow spec §6: %x", enc)
	}
	if !ed25519.Verify(node.ID().PublicKey(), append([]byte(specReceiptContext), enc[:97]...), enc[97:]) {
		t.Fatal("signature is not over \"nuage-receipt-v1\" || 0x00 || bytes[0:97]")
	}
	got, err := ParseReceipt(enc)
	if err != nil {
		t.Fatalf("ParseReceipt: %v", err)
	}
	if got.Node != r.Node || got.Piece != r.Piece || got.Size != r.Size || got.Serial != r.Serial ||
		!got.StoredAt.Equal(r.StoredAt) || got.Signature != r.Signature {
		t.Fatalf("ParseReceipt returned %+v, want %+v", got, r)
	}
}

func TestParseReceiptErrors(t *testing.T) {
	r := testReceipt()
	enc := r.Sign(node)
	tests := []struct {
		name string
		b    []byte
		want error
	}{
		{"empty", nil, ErrMalformed},
		{"truncated", enc[:ReceiptSize-1], ErrMalformed},
		{"too long", append(bytes.Clone(enc), 0), ErrMalformed},
		{"an order", func() []byte { o := testOrder(Put); return o.Sign(coordinator) }(), ErrMalformed},
		{"version 2", func() []byte { b := bytes.Clone(enc); b[0] = 2; return resign(b, specReceiptContext, node) }(), ErrMalformed},
		{"signature by another key", resign(enc, specReceiptContext, otherNode), ErrBadSignature},
		{"signature over the order context", resign(enc, specOrderContext, node), ErrBadSignature},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := ParseReceipt(tt.b); !errors.Is(err, tt.want) {
				t.Fatalf("ParseReceipt = %v, want %v", err, tt.want)
			}
		})
	}
	for i := range enc {
		for _, mask := range []byte{0x01, 0x80, 0xff} {
			b := bytes.Clone(enc)
			b[i] ^= mask
			if _, err := ParseReceipt(b); err == nil {
				t.Fatalf("receipt with byte %d ^ %#02x parses", i, mask)
			}
		}
	}
}

func TestReceiptMatches(t *testing.T) {
	o := testOrder(Put)
	o.Sign(coordinator)
	r := testReceipt()
	r.Sign(node)
	if !r.Matches(&o) {
		t.Fatal("receipt does not match its order")
	}
	tests := []struct {
		name string
		edit func(r *Receipt)
	}{
		{"other node", func(r *Receipt) { r.Sign(otherNode) }},
		{"other piece", func(r *Receipt) { r.Piece = otherPiece }},
		{"other size", func(r *Receipt) { r.Size++ }},
		{"zero size", func(r *Receipt) { r.Size = 0 }},
		{"other serial", func(r *Receipt) { r.Serial[15] ^= 1 }},
		{"zero serial", func(r *Receipt) { r.Serial = [SerialSize]byte{} }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := r
			tt.edit(&m)
			if m.Matches(&o) {
				t.Fatalf("receipt %+v matches order %+v", m, o)
			}
		})
	}
	// StoredAt is the node's business, not part of the match.
	later := r
	later.StoredAt = later.StoredAt.Add(time.Hour)
	if !later.Matches(&o) {
		t.Fatal("StoredAt affects Matches")
	}
}

func FuzzParse(f *testing.F) {
	for _, a := range []Action{Put, Get, Delete} {
		o := testOrder(a)
		f.Add(o.Sign(coordinator))
	}
	valid := testOrder(Put)
	enc := valid.Sign(coordinator)
	f.Add(enc[:Size-1])
	f.Add(append(bytes.Clone(enc), 0))
	f.Add([]byte{})
	f.Add(make([]byte, Size))
	f.Add(resign(enc, specOrderContext, otherCoordinator))
	f.Fuzz(func(t *testing.T, b []byte) {
		o, err := Parse(b)
		if err != nil {
			if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrBadSignature) {
				t.Fatalf("Parse error %v is neither ErrMalformed nor ErrBadSignature", err)
			}
			return
		}
		if !bytes.Equal(o.Marshal(), b) {
			t.Fatalf("Marshal(Parse(b)) != b:\n%x\n%x", o.Marshal(), b)
		}
		if o.Action < Put || o.Action > Delete {
			t.Fatalf("Parse accepted action %d", o.Action)
		}
		if !o.Coordinator.Verify(append([]byte(specOrderContext), b[:130]...), b[130:]) {
			t.Fatal("Parse accepted an order its coordinator did not sign")
		}
		_ = o.Check(time.Unix(0, 0), o.Node, o.Action, o.Piece, trusts(o.Coordinator))
	})
}

func FuzzParseReceipt(f *testing.F) {
	r := testReceipt()
	enc := r.Sign(node)
	f.Add(enc)
	f.Add(enc[:ReceiptSize-1])
	f.Add(append(bytes.Clone(enc), 1))
	f.Add([]byte{})
	f.Add(make([]byte, ReceiptSize))
	f.Add(resign(enc, specReceiptContext, otherNode))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := ParseReceipt(b)
		if err != nil {
			if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrBadSignature) {
				t.Fatalf("ParseReceipt error %v is neither ErrMalformed nor ErrBadSignature", err)
			}
			return
		}
		if !bytes.Equal(r.Marshal(), b) {
			t.Fatalf("Marshal(ParseReceipt(b)) != b:\n%x\n%x", r.Marshal(), b)
		}
		if !r.Node.Verify(append([]byte(specReceiptContext), b[:97]...), b[97:]) {
			t.Fatal("ParseReceipt accepted a receipt its node did not sign")
		}
	})
}

func BenchmarkParse(b *testing.B) {
	o := testOrder(Put)
	enc := o.Sign(coordinator)
	b.SetBytes(Size)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Parse(enc); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkSign(b *testing.B) {
	o := testOrder(Put)
	b.SetBytes(Size)
	b.ReportAllocs()
	for b.Loop() {
		o.Sign(coordinator)
	}
}

func ExampleOrder_Check() {
	coord, _ := identity.Generate()
	n, _ := identity.Generate()
	p := piece.Sum([]byte("piece bytes"))

	o := New(Get, n.ID(), p, 11, time.Minute)
	header := base64.RawURLEncoding.EncodeToString(o.Sign(coord))

	// On the node:
	raw, _ := base64.RawURLEncoding.DecodeString(header)
	got, err := Parse(raw)
	if err != nil {
		fmt.Println(err)
		return
	}
	trusted := func(id identity.ID) bool { return id == coord.ID() }
	fmt.Println(got.Check(time.Now(), n.ID(), Get, p, trusted))
	fmt.Println(got.Check(time.Now(), n.ID(), Put, p, trusted) != nil)
	// Output:
	// <nil>
	// true
}

func TestDeleteOrderMustHaveZeroSize(t *testing.T) {
	coord, err := identity.Generate()
	if err != nil {
		t.Fatal(err)
	}
	o := New(Delete, coord.ID(), piece.Sum([]byte("x")), 7, time.Minute)
	if _, err := Parse(o.Sign(coord)); !errors.Is(err, ErrMalformed) {
		t.Fatalf("DELETE with size 7: err = %v, want ErrMalformed", err)
	}
	o = New(Delete, coord.ID(), piece.Sum([]byte("x")), 0, time.Minute)
	parsed, err := Parse(o.Sign(coord))
	if err != nil {
		t.Fatal(err)
	}
	if err := parsed.Check(time.Now(), coord.ID(), Delete, o.Piece, nil); !errors.Is(err, ErrUntrusted) {
		t.Fatalf("nil trust function: err = %v, want ErrUntrusted", err)
	}
}
